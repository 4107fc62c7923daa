// Shared vocabulary of the map scenarios' oracles: violations, map contents and their diff.
import Basics
import BPFKit
import Foundation
import StressCore

/// One broken promise found by an oracle; `check` is the scenario check it fails.
public struct Violation: Equatable, CustomStringConvertible {
    public let check: String
    public let message: String
    public init(_ check: String, _ message: String) { self.check = check; self.message = message }
    public var description: String { "[\(check)] \(message)" }
}

/// A map's content as user space sees it: key -> value bytes. For per-CPU maps the value
/// is the CPUs' slots packed back to back, `valueSize` meaningful bytes each (no padding).
public typealias MapContent = [UInt32: [UInt8]]

func errnoList(_ s: Set<Int32>) -> String {
    "{" + s.sorted().map { $0 == 0 ? "0" : ErrnoName.name($0) }.joined(separator: ",") + "}"
}

func errnoText(_ e: Int32) -> String { e == 0 ? "success" : ErrnoName.name(e) }

public func contentDiff(expected: MapContent, actual: MapContent, limit: Int = 6) -> [String] {
    var out: [String] = []
    for k in expected.keys.sorted() {
        guard out.count < limit else { break }
        if let a = actual[k] {
            if a != expected[k]! { out.append("key \(k): value \(hex(a)) want \(hex(expected[k]!))") }
        } else {
            out.append("key \(k): missing")
        }
    }
    for k in actual.keys.sorted() where expected[k] == nil && out.count < limit { out.append("key \(k): unexpected") }
    return out
}
