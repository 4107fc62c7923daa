import Foundation

/// All findings that share one signature: one line in the report instead of thousands.
public struct FindingBucket: Codable, Sendable, Equatable {
    public var signature: String
    public var type: FindingType
    public var title: String
    public var scenario: String
    public var check: String
    public var count: Int
    public var firstSeen: Date
    public var lastSeen: Date
    /// The first `BucketStore.maxDumps` dumps; more would only repeat the same stack.
    public var dumps: [String]
    /// Distinct ops the findings were seen in, in first-seen order; nil when no finding named an op.
    public var ops: [String]?

    public init(signature: String, type: FindingType, title: String, scenario: String, check: String,
                count: Int, firstSeen: Date, lastSeen: Date, dumps: [String], ops: [String]? = nil) {
        self.signature = signature; self.type = type; self.title = title; self.scenario = scenario
        self.check = check; self.count = count; self.firstSeen = firstSeen; self.lastSeen = lastSeen
        self.dumps = dumps; self.ops = ops
    }
}

/// Groups findings by signature. Thread-safe: workers' findings arrive from several reader threads.
public final class BucketStore: @unchecked Sendable {
    public static let maxDumps = 3
    /// Caps the ops list so a bucket hit by every op kind stays readable.
    public static let maxOps = 16

    private let lock = NSLock()
    private var order: [String] = []
    private var bySignature: [String: FindingBucket] = [:]

    public init() {}

    public func add(_ f: Finding) {
        lock.lock(); defer { lock.unlock() }
        if var b = bySignature[f.signature] {
            b.count += 1
            b.firstSeen = min(b.firstSeen, f.time)
            b.lastSeen = max(b.lastSeen, f.time)
            if b.dumps.count < Self.maxDumps { b.dumps.append(f.dump) }
            if let op = f.op {
                var ops = b.ops ?? []
                if !ops.contains(op) && ops.count < Self.maxOps { ops.append(op) }
                b.ops = ops
            }
            bySignature[f.signature] = b
        } else {
            order.append(f.signature)
            bySignature[f.signature] = FindingBucket(
                signature: f.signature, type: f.type, title: f.title, scenario: f.scenario, check: f.check,
                count: 1, firstSeen: f.time, lastSeen: f.time, dumps: [f.dump], ops: f.op.map { [$0] })
        }
    }

    /// In the order each signature was first added.
    public var buckets: [FindingBucket] {
        lock.lock(); defer { lock.unlock() }
        return order.compactMap { bySignature[$0] }
    }

    public var isEmpty: Bool {
        lock.lock(); defer { lock.unlock() }
        return order.isEmpty
    }
}
