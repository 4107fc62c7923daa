// A scenario parameter written as plain text (bugbench's fault table, command lines).
extension ParamValue {
    /// `text` as a value of `kind`: "3", "0.5", "true", "cgroup", "10ms"; nil when it is not
    /// one (lists have no plain-text form).
    public static func parse(_ text: String, as kind: ParamKind) -> ParamValue? {
        switch kind {
        case .int: return Int(text).map(ParamValue.int)
        case .double: return Double(text).map(ParamValue.double)
        case .bool: return text == "true" ? .bool(true) : text == "false" ? .bool(false) : nil
        case .string: return .string(text)
        case .duration: return CampaignParser.parseDuration(text).map(ParamValue.duration)
        case .list: return nil
        }
    }
}
