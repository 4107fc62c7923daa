import Basics
import BPFKit
import CampaignFile
import Foundation

/// One scenario as it will run: resolved parameters and its share of the worker fleet.
public struct PlannedScenario: Sendable {
    public let descriptor: ScenarioDescriptor
    public let params: [String: ParamValue]
    public let workers: Int
    public let threads: Int
    public let deadlines: [String: Double]
}

/// A campaign resolved against the registry: what runs, with what, and what is skipped.
public struct RunPlan: Sendable {
    public var campaign: Campaign
    public var seed: UInt64
    public var scenarios: [PlannedScenario]
    public var skipped: [(name: String, reason: String)]
    public var defaultDeadline: Double
    public var deadlines: [String: Double]
    /// Offset of this run's worker slots in the campaign's slot space (`run --shard`), so that
    /// shards derive disjoint worker seeds.
    public var firstSlot: Int = 0

    /// The seed of the worker in `slot` (this run's numbering).
    public func workerSeed(slot: Int) -> UInt64 { seed &+ UInt64(firstSlot + slot) &* 0x9E37_79B9 }

    /// Resolves `campaign`: fills defaults, splits `campaign.workers` across scenarios by weight
    /// (at least one each, unless a scenario names its own count), and skips unsupported ones.
    public static func make(campaign: Campaign, registry: ScenarioRegistry, environment: EnvironmentProbe,
                            runtime: any Runtime, seed: UInt64) throws -> RunPlan {
        var planned: [PlannedScenario] = []
        var skipped: [(String, String)] = []
        let entries = campaign.scenarios
        let totalWeight = max(1, entries.filter { $0.workers == nil }.map { max(1, $0.weight) }.reduce(0, +))
        for entry in entries {
            guard let type = registry.type(named: entry.name) else {
                let known = registry.descriptors.filter { !$0.testOnly }.map(\.name).joined(separator: ", ")
                throw StressError(.config, "unknown scenario '\(entry.name)' (known: \(known))")
            }
            let d = type.descriptor
            if let why = environment.skipReason(d, runtime: runtime) {
                skipped.append((d.name, why))
                continue
            }
            var params: [String: ParamValue] = [:]
            for p in d.parameters { params[p.name] = p.defaultValue }
            for (k, v) in entry.params {
                guard d.parameters.contains(where: { $0.name == k }) else {
                    throw StressError(.config, "scenario '\(d.name)' has no parameter '\(k)'")
                }
                params[k] = v
            }
            let share = entry.workers ?? max(1, campaign.workers * max(1, entry.weight) / totalWeight)
            planned.append(PlannedScenario(descriptor: d, params: params, workers: share,
                                           threads: entry.threads ?? campaign.threads,
                                           deadlines: entry.deadlines))
        }
        return RunPlan(campaign: campaign, seed: seed, scenarios: planned, skipped: skipped,
                       defaultDeadline: campaign.deadline, deadlines: campaign.deadlines)
    }
}
