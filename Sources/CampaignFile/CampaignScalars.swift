// The campaign walker's scalar readers: keys, counts, seeds, percentages, durations, deadlines.
import Foundation
import Yams
#if canImport(Glibc)
import Glibc
#endif

extension Walker {
    func keyString(_ k: Node, path: String?) throws -> String {
        guard case .scalar(let sc) = k, !sc.string.isEmpty else {
            let where_ = path.map { " in \($0)" } ?? ""
            throw fail(k, path, "keys\(where_) must be plain names (got \(describe(k)))")
        }
        return sc.string
    }

    func nonEmptyString(_ node: Node, key: String) throws -> String {
        guard case .scalar(let sc) = node, !isNull(node),
              !sc.string.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw fail(node, key, "'\(key)' must be a non-empty string (got \(describe(node)))")
        }
        return sc.string
    }

    func count(_ node: Node, key: String) throws -> Int {
        guard case .scalar(let sc) = node, let n = intValue(sc.string), n > 0 else {
            throw fail(node, key, "'\(key)' must be a positive integer (got \(describe(node)))")
        }
        guard n <= CampaignParser.maxCount else {
            throw fail(node, key, "'\(key)' must be at most \(CampaignParser.maxCount) (got \(n))")
        }
        return n
    }

    func seed(_ node: Node) throws -> UInt64 {
        if case .scalar(let sc) = node, !isNull(node) {
            let s = sc.string.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
            if s.lowercased().hasPrefix("0x"), let v = UInt64(s.dropFirst(2), radix: 16) { return v }
            if let v = UInt64(s) { return v }
        }
        throw fail(node, "seed", "'seed' must be an unsigned 64-bit integer (got \(describe(node)))")
    }

    /// A positive percentage: `25`, `25%` or `12.5%`.
    func percent(_ node: Node, key: String) throws -> Double {
        if case .scalar(let sc) = node, !isNull(node) {
            var t = sc.string.trimmingCharacters(in: .whitespaces)
            if t.hasSuffix("%") { t.removeLast() }
            if let v = Double(t), v.isFinite, v > 0, v <= 100_000 { return v }
        }
        throw fail(node, key, "'\(key)' must be a positive percentage like 25 or 25% (got \(describe(node)))")
    }

    func positiveDuration(_ node: Node, key: String) throws -> Double {
        guard case .scalar(let sc) = node, let d = CampaignParser.parseDuration(sc.string), d > 0 else {
            throw fail(node, key, "'\(key)' must be a positive duration like 500ms, 30s, 2m, 1h30m (got \(describe(node)))")
        }
        guard d <= CampaignParser.maxDuration else {
            throw fail(node, key, "'\(key)' must be at most \(CampaignParser.maxDurationText) (got \(describe(node)))")
        }
        return d
    }

    func deadlines(_ node: Node, key: String, allowDefault: Bool = false) throws -> [String: Double] {
        guard case .mapping(let map) = node else {
            throw fail(node, key, "'\(key)' must be a mapping of op kind to duration (got \(describe(node)))")
        }
        let valid = (allowDefault ? ["default"] : []) + opKinds
        var out: [String: Double] = [:]
        for (k, v) in map {
            let op = try keyString(k, path: key)
            // A misspelt op kind (prog_atach) would silently leave the real one at the default.
            guard valid.contains(op) else {
                throw fail(k, "\(key).\(op)", "unknown op kind '\(op)' in \(key) (expected one of: \(valid.joined(separator: ", ")))")
            }
            out[op] = try positiveDuration(v, key: "\(key).\(op)")
        }
        return out
    }

    func intValue(_ s: String) -> Int? {
        let t = s.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("+") { return Int(t.dropFirst()) }
        return Int(t)
    }

    func boolValue(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true": return true
        case "false": return false
        default: return nil
        }
    }

    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let sc) = node, sc.style == .plain || sc.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(sc.string)
    }

    /// Short description of a value for error messages: `'two'`, `a list`, `a mapping`, `nothing`.
    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let sc):
            if isNull(node) { return "nothing" }
            let s = sc.string.count > 40 ? String(sc.string.prefix(40)) + "…" : sc.string
            return "'\(s)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
