// module Capture
