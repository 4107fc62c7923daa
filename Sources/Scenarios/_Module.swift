// module Scenarios
