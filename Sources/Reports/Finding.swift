import Foundation

/// What kind of problem a finding is. Stable strings: they appear in JSON, JUnit and directory names.
public enum FindingType: String, Codable, Sendable, CaseIterable {
    case hang, crash, failure, kernel, leak
    /// Slower than a baseline run of the same campaign (`run --baseline`).
    case regression
}

/// One problem seen during a run: a broken check, an unexpected errno, a hang, a crash,
/// a kernel splat or a leaked object. Raw material for buckets.
public struct Finding: Codable, Sendable, Equatable {
    public var type: FindingType
    /// syzkaller-style title naming the culprit; holds no pids, addresses or counts.
    public var title: String
    /// Hex hash of the title plus the top meaningful frames; equal signatures share a bucket.
    public var signature: String
    public var scenario: String
    /// The scenario check (JUnit testcase) this finding fails, e.g. "counter-exact".
    public var check: String
    public var worker: Int?
    public var op: String?
    public var time: Date
    /// Full human-readable dump: threads, stacks, flight recorder, arguments.
    public var dump: String

    public init(type: FindingType, title: String, signature: String, scenario: String, check: String,
                worker: Int? = nil, op: String? = nil, time: Date = Date(), dump: String) {
        self.type = type; self.title = title; self.signature = signature; self.scenario = scenario
        self.check = check; self.worker = worker; self.op = op; self.time = time; self.dump = dump
    }
}
