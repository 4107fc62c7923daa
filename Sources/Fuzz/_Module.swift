// module Fuzz
