// Command-line numbers checked against the same bounds as the campaign file.
import CampaignFile

/// Each check prints one line and exits 2 when a value is out of range, so a typo cannot
/// fork-bomb the machine (`--workers 100000`) or overflow a clock (`--duration 99999999h`).
enum Bounds {
    /// Workers and threads: the campaign file's cap (1024) unless a command sets a lower one.
    static let maxCount = CampaignParser.maxCount

    /// An integer flag within `range`.
    static func count(_ value: Int, _ flag: String, _ range: ClosedRange<Int>) -> Int {
        guard range.contains(value) else { die("\(flag) must be \(range.lowerBound)...\(range.upperBound) (got \(value))", ExitCodes.usage) }
        return value
    }

    /// A duration flag ("30s", "2m", a number of seconds): positive (or zero when allowed), at most 30 days.
    static func duration(_ text: String, _ flag: String, allowZero: Bool = false) -> Double {
        guard let secs = CampaignParser.parseDuration(text), secs > 0 || (allowZero && secs == 0) else {
            die("bad \(flag) '\(text)' (a \(allowZero ? "non-negative" : "positive") duration like 500ms, 30s, 2m, 1h30m)", ExitCodes.usage)
        }
        guard secs <= CampaignParser.maxDuration else {
            die("\(flag) must be at most \(CampaignParser.maxDurationText) (got '\(text)')", ExitCodes.usage)
        }
        return secs
    }

    /// A number of seconds given as a Double flag.
    static func seconds(_ value: Double, _ flag: String, allowZero: Bool = false) -> Double {
        guard value.isFinite, value > 0 || (allowZero && value == 0) else {
            die("\(flag) must be \(allowZero ? "zero or more" : "positive") seconds (got \(value))", ExitCodes.usage)
        }
        guard value <= CampaignParser.maxDuration else {
            die("\(flag) must be at most \(CampaignParser.maxDurationText) (got \(value)s)", ExitCodes.usage)
        }
        return value
    }

    /// An unsigned 64-bit seed: decimal or 0x-hex, like the campaign file's `seed:`.
    static func seed(_ text: String?) -> UInt64? {
        guard let t = text else { return nil }
        let s = t.replacingOccurrences(of: "_", with: "")
        if s.lowercased().hasPrefix("0x"), let v = UInt64(s.dropFirst(2), radix: 16) { return v }
        if let v = UInt64(s) { return v }
        die("--seed must be an unsigned 64-bit integer, 0...\(UInt64.max) or 0x-hex (got '\(t)')", ExitCodes.usage)
    }
}
