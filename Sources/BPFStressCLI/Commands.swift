import ArgumentParser

/// Subcommands that live in their own files (fuzz, bugbench, triage). One line each.
let extraCommands: [ParsableCommand.Type] = [BugbenchCommand.self, FuzzCommand.self, TriageCommand.self,
                                             TrendCommand.self, MergeCommand.self, PluginProbeCommand.self,
                                             GuestCommand.self, VMExec.self, TimersCommand.self]

/// `bpfstress bench` subcommands that live in their own files.
let extraBenchCommands: [ParsableCommand.Type] = [BenchFuzz.self, BenchTriage.self, BenchVM.self]
