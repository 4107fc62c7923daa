// Campaign YAML to a validated Campaign: the document, its scenarios and their parameters.
import Foundation
import Yams
#if canImport(Glibc)
import Glibc
#endif

/// Reads campaign YAML into a validated `Campaign`. Every problem is reported as one line naming the file,
/// the line and the key, because a typo in a 20-minute soak config should fail in the first second.
public enum CampaignParser {
    static let topKeys = ["name", "seed", "duration", "workers", "threads", "deadline", "deadlines", "baseline",
                          "regression_threshold", "p99_regression_threshold", "scenarios",
                          "kernel", "vm"]
    static let entryKeys = ["name", "weight", "workers", "threads", "params", "deadlines"]
    /// Upper bound on workers/threads/weight: a typo like `workers: 2000` must not fork-bomb the VM.
    public static let maxCount = 1024
    /// Upper bound on every duration (30 days): beyond it nanosecond clocks overflow, and no
    /// campaign means it.
    public static let maxDuration = 30.0 * 86400
    /// Spelled-out bound for messages.
    public static let maxDurationText = "30d"

    /// Reads `path` with open(2)/read(2) and parses it; an unreadable file is a `CampaignError` naming the path.
    /// `opKinds` are the names valid under `deadlines:` (a scenario's may also say `default`).
    public static func load(path: String, schemas: [ScenarioSchema], opKinds: [String]) throws -> Campaign {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            throw CampaignError(file: path, line: nil, key: nil,
                                message: "cannot read campaign file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CampaignError(file: path, line: nil, key: nil,
                                    message: "cannot read campaign file: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            data.append(contentsOf: buf[0..<n])
            if data.count > 16 << 20 {
                throw CampaignError(file: path, line: nil, key: nil, message: "campaign file is larger than 16 MiB")
            }
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CampaignError(file: path, line: nil, key: nil, message: "campaign file is not valid UTF-8")
        }
        return try parse(text, file: path, schemas: schemas, opKinds: opKinds)
    }

    public static func parse(_ yaml: String, file: String, schemas: [ScenarioSchema], opKinds: [String]) throws -> Campaign {
        var p = Walker(file: file, schemas: schemas, opKinds: opKinds)
        return try p.campaign(yaml)
    }

    /// "500ms", "30s", "2m", "1h", "1h30m", "1.5s", "250us", "100ns"; a plain number is seconds.
    /// Returns nil for anything else, including negative, NaN and infinite values.
    public static func parseDuration(_ s: String) -> Double? {
        let t = s.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return nil }
        if let plain = plainNumber(t) { return plain }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3),
                                         ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        var total = 0.0
        var rest = Substring(t)
        while !rest.isEmpty {
            let numEnd = rest.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) ?? rest.endIndex
            guard numEnd != rest.startIndex, let value = plainNumber(String(rest[..<numEnd])) else { return nil }
            rest = rest[numEnd...]
            let unitEnd = rest.firstIndex(where: { $0.isASCII && ($0.isNumber || $0 == ".") }) ?? rest.endIndex
            let unit = String(rest[..<unitEnd])
            guard let scale = units.first(where: { $0.0 == unit })?.1 else { return nil }
            total += value * scale
            rest = rest[unitEnd...]
        }
        return total.isFinite ? total : nil
    }

    /// Non-negative decimal number with digits only ("1", "1.5", ".5"); no sign, exponent, inf or nan.
    static func plainNumber(_ s: String) -> Double? {
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              s.filter({ $0 == "." }).count <= 1, s != "." else { return nil }
        return Double(s)
    }
}

/// Walks the composed YAML tree, tracking the file name for errors.
struct Walker {
    let file: String
    let schemas: [ScenarioSchema]
    let opKinds: [String]

    func fail(_ node: Node?, _ key: String?, _ message: String) -> CampaignError {
        CampaignError(file: file, line: node?.mark?.line, key: key, message: message)
    }

    mutating func campaign(_ yaml: String) throws -> Campaign {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let e as YamlError {
            throw yamlError(e, yaml)
        }
        let expected = CampaignParser.topKeys.joined(separator: ", ")
        guard let root, !isNull(root) else {
            throw CampaignError(file: file, line: 1, key: nil,
                                message: "campaign file is empty (expected a mapping with keys: \(expected))")
        }
        guard case .mapping(let map) = root else {
            throw fail(root, nil, "top level must be a mapping with keys: \(expected) (got \(describe(root)))")
        }
        var c = Campaign(name: defaultName())
        var sawScenarios = false
        for (k, v) in map {
            let key = try keyString(k, path: nil)
            switch key {
            case "name": c.name = try nonEmptyString(v, key: "name")
            case "seed": c.seed = try seed(v)
            case "duration": c.duration = try positiveDuration(v, key: "duration")
            case "workers": c.workers = try count(v, key: "workers")
            case "threads": c.threads = try count(v, key: "threads")
            case "deadline": c.deadline = try positiveDuration(v, key: "deadline")
            case "deadlines": c.deadlines = try deadlines(v, key: "deadlines")
            case "baseline": c.baseline = try nonEmptyString(v, key: "baseline")
            case "regression_threshold": c.regressionThresholdPercent = try percent(v, key: "regression_threshold")
            case "p99_regression_threshold": c.p99RegressionThresholdPercent = try percent(v, key: "p99_regression_threshold")
            case "kernel": c.kernel = try nonEmptyString(v, key: "kernel")
            case "vm": c.vm = try vmSettings(v)
            case "scenarios":
                c.scenarios = try scenarios(v)
                sawScenarios = true
            default:
                throw fail(k, key, "unknown key '\(key)' (expected one of: \(expected))")
            }
        }
        if !sawScenarios {
            throw fail(root, "scenarios", "missing required key 'scenarios' (a list of scenario names or mappings)")
        }
        return c
    }

    /// Campaign name when the file has none: its base name without extension.
    func defaultName() -> String {
        let base = file.split(separator: "/").last.map(String.init) ?? file
        if let dot = base.lastIndex(of: "."), dot != base.startIndex { return String(base[..<dot]) }
        return base.isEmpty ? "campaign" : base
    }

    func yamlError(_ e: YamlError, _ yaml: String) -> CampaignError {
        switch e {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            var msg = "YAML syntax error: \(problem)"
            if let context { msg += " (\(context.text) started on line \(context.mark.line))" }
            return CampaignError(file: file, line: mark.line, key: nil, message: msg)
        case let .duplicatedKeysInMapping(duplicates, context):
            let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return CampaignError(file: file, line: context.mark.line, key: duplicates.first,
                                 message: "duplicate key \(names)")
        case let .reader(problem, offset, _, _):
            let line = offset.map { off in 1 + yaml.utf8.prefix(off).filter { $0 == 0x0A }.count }
            return CampaignError(file: file, line: line, key: nil, message: "unreadable YAML input: \(problem)")
        default:
            return CampaignError(file: file, line: nil, key: nil, message: "YAML error: \(e)")
        }
    }

    // MARK: scenarios

    func scenarios(_ node: Node) throws -> [ScenarioEntry] {
        guard case .sequence(let seq) = node else {
            throw fail(node, "scenarios", "'scenarios' must be a list of scenario names or mappings (got \(describe(node)))")
        }
        if seq.isEmpty { throw fail(node, "scenarios", "'scenarios' must name at least one scenario") }
        var firstLine: [String: Int] = [:]
        return try seq.enumerated().map { i, item in
            let e = try entry(item, index: i)
            // One name is one testsuite in the JUnit: a second entry would merge or shadow the first.
            let here = item.mark?.line ?? 0
            if let first = firstLine[e.name] {
                throw fail(item, "scenarios[\(i)]", "duplicate scenario '\(e.name)' (first listed on line \(first))")
            }
            firstLine[e.name] = here
            return e
        }
    }

    func entry(_ node: Node, index: Int) throws -> ScenarioEntry {
        let path = "scenarios[\(index)]"
        switch node {
        case .scalar where !isNull(node):
            let name = node.scalar!.string
            _ = try schema(named: name, node: node, key: path)
            return ScenarioEntry(name: name)
        case .mapping(let map):
            guard let nameNode = map["name"] else {
                throw fail(node, "\(path).name", "\(path): missing required key 'name'")
            }
            let name = try nonEmptyString(nameNode, key: "\(path).name")
            let sch = try schema(named: name, node: nameNode, key: "\(path).name")
            var e = ScenarioEntry(name: name)
            for (k, v) in map {
                let key = try keyString(k, path: path)
                switch key {
                case "name": break
                case "weight": e.weight = try count(v, key: "\(path).weight")
                case "workers": e.workers = try count(v, key: "\(path).workers")
                case "threads": e.threads = try count(v, key: "\(path).threads")
                case "params": e.params = try params(v, schema: sch, path: "\(path).params")
                case "deadlines": e.deadlines = try deadlines(v, key: "\(path).deadlines", allowDefault: true)
                default:
                    throw fail(k, "\(path).\(key)", "unknown key '\(key)' in \(path) (expected one of: "
                               + CampaignParser.entryKeys.joined(separator: ", ") + ")")
                }
            }
            return e
        default:
            throw fail(node, path, "\(path) must be a scenario name or a mapping with keys: "
                       + CampaignParser.entryKeys.joined(separator: ", ") + " (got \(describe(node)))")
        }
    }

    func schema(named name: String, node: Node, key: String) throws -> ScenarioSchema {
        if let s = schemas.first(where: { $0.name == name }) { return s }
        let known = schemas.map(\.name).sorted().joined(separator: ", ")
        throw fail(node, key, "unknown scenario '\(name)' (known: \(known.isEmpty ? "none" : known))")
    }

    func params(_ node: Node, schema: ScenarioSchema, path: String) throws -> [String: ParamValue] {
        guard case .mapping(let map) = node else {
            throw fail(node, path, "'\(path)' must be a mapping of parameter names to values (got \(describe(node)))")
        }
        var out: [String: ParamValue] = [:]
        for (k, v) in map {
            let name = try keyString(k, path: path)
            guard let kind = schema.params[name] else {
                let known = schema.params.keys.sorted().joined(separator: ", ")
                throw fail(k, "\(path).\(name)", "unknown param '\(name)' for scenario '\(schema.name)' "
                           + "(expected one of: \(known.isEmpty ? "none" : known))")
            }
            guard let value = convert(v, kind) else {
                throw fail(v, "\(path).\(name)", "param '\(name)' of scenario '\(schema.name)' must be "
                           + "\(article(kind)) (got \(describe(v)))")
            }
            out[name] = value
        }
        return out
    }

    func article(_ k: ParamKind) -> String {
        switch k {
        case .int: return "an int"
        case .double: return "a double"
        case .bool: return "a bool (true or false)"
        case .string: return "a string"
        case .duration: return "a duration like 500ms, 30s, 2m, 1h30m"
        case .list: return "a list of values"
        }
    }

    func convert(_ node: Node, _ kind: ParamKind) -> ParamValue? {
        if kind == .list {
            guard case .sequence(let seq) = node else { return nil }
            var items: [ParamValue] = []
            for item in seq {
                guard let v = inferred(item) else { return nil }
                items.append(v)
            }
            return .list(items)
        }
        guard case .scalar(let sc) = node, !isNull(node) else { return nil }
        let s = sc.string
        switch kind {
        case .int: return intValue(s).map(ParamValue.int)
        case .double:
            guard let d = Double(s.trimmingCharacters(in: .whitespaces)), d.isFinite else { return nil }
            return .double(d)
        case .bool: return boolValue(s).map(ParamValue.bool)
        case .string: return .string(s)
        case .duration: return CampaignParser.parseDuration(s).map(ParamValue.duration)
        case .list: return nil
        }
    }

    /// List elements carry no declared kind: plain scalars become int, double or bool when they read as
    /// one, anything quoted or else a string; nested lists recurse.
    func inferred(_ node: Node) -> ParamValue? {
        switch node {
        case .sequence(let seq):
            var items: [ParamValue] = []
            for item in seq { guard let v = inferred(item) else { return nil }; items.append(v) }
            return .list(items)
        case .scalar(let sc):
            if isNull(node) { return nil }
            if sc.style == .plain {
                if let i = intValue(sc.string) { return .int(i) }
                if let d = Double(sc.string), d.isFinite { return .double(d) }
                if let b = boolValue(sc.string) { return .bool(b) }
            }
            return .string(sc.string)
        default:
            return nil
        }
    }
}
