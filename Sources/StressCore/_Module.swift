// module StressCore
