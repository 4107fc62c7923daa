// module Triage
