import Glibc
import SystemPackage

/// Finds the corpora/progs sources and their built objects, compiling on demand
/// with the same command as scripts/build-progs.
public enum ProgramCatalog {
    /// The `corpora` directory: $BPFSTRESS_CORPORA, else the first `corpora/progs`
    /// found walking up from the cwd, else walking up from the executable's directory.
    public static func corporaDirectory() throws -> String {
        if let env = getenv("BPFSTRESS_CORPORA").map({ String(cString: $0) }), !env.isEmpty {
            if FileUtil.isDirectory(env + "/progs") { return env }
            throw BPFError(code: .io, operation: "locate corpora", errno: .noSuchFileOrDirectory,
                           detail: "BPFSTRESS_CORPORA=\(env) has no progs/ directory")
        }
        var starts = [FileUtil.cwd()]
        if let exe = FileUtil.realpath("/proc/self/exe") { starts.append(FileUtil.dirname(exe)) }
        for start in starts {
            var dir = start
            for _ in 0..<32 {
                if FileUtil.isDirectory(dir + "/corpora/progs") { return dir + "/corpora" }
                if dir == "/" { break }
                dir = FileUtil.dirname(dir)
            }
        }
        throw BPFError(code: .io, operation: "locate corpora", errno: .noSuchFileOrDirectory,
                       detail: "no corpora/progs above \(starts.joined(separator: " or ")); set BPFSTRESS_CORPORA")
    }

    /// corpora/progs.
    public static func progsDirectory() throws -> String { try corporaDirectory() + "/progs" }

    /// Names of the programs with sources (connect4, connect6, ...).
    public static func available() throws -> [String] {
        try FileUtil.listDirectory(progsDirectory()).filter { $0.hasSuffix(".bpf.c") }.map { String($0.dropLast(6)) }
    }

    /// Path of corpora/progs/out/<name>.o, compiled if missing or older than its
    /// source or a header in corpora/progs.
    public static func objectPath(_ name: String) throws -> String {
        let progs = try progsDirectory()
        let src = "\(progs)/\(name).bpf.c"
        let out = "\(progs)/out"
        let obj = "\(out)/\(name).o"
        guard let srcTime = FileUtil.mtime(src) else {
            if FileUtil.exists(obj) { return obj }  // shipped prebuilt without sources
            throw BPFError(code: .io, operation: "find program source", errno: .noSuchFileOrDirectory, detail: src)
        }
        let headerTime = FileUtil.listDirectory(progs).filter { $0.hasSuffix(".h") }
            .compactMap { FileUtil.mtime("\(progs)/\($0)") }.max() ?? 0
        if let objTime = FileUtil.mtime(obj), objTime >= srcTime, objTime >= headerTime {
            return obj
        }
        if mkdir(out, 0o755) != 0 && errno != EEXIST {
            throw BPFError(code: .io, operation: "mkdir", errno: Errno(rawValue: errno), detail: out)
        }
        try compile(source: src, object: obj)
        return obj
    }

    /// clang -target bpf -O2 -g -I/usr/include/<multiarch> -c src -o tmp, then rename
    /// (concurrent workers never see a half-written object). Bounded to 120 s.
    static func compile(source: String, object: String) throws {
        let clang = FileUtil.exists("/opt/swift/usr/bin/clang") ? "/opt/swift/usr/bin/clang" : findInPath("clang")
        guard let clang else {
            throw BPFError(code: .io, operation: "compile BPF program", errno: .noSuchFileOrDirectory, detail: "no clang (/opt/swift/usr/bin/clang or PATH)")
        }
        let multiarch = FileUtil.isDirectory("/usr/include/x86_64-linux-gnu") ? "x86_64-linux-gnu" : "aarch64-linux-gnu"
        let tmp = "\(object).tmp.\(getpid())"
        let args = [clang, "-target", "bpf", "-O2", "-g", "-I/usr/include/\(multiarch)", "-c", source, "-o", tmp]
        let status = try run(args, timeoutSeconds: 120)
        guard status == 0 else {
            unlink(tmp)
            throw BPFError(code: .io, operation: "compile BPF program", detail: "\(args.joined(separator: " ")) exited with status \(status)")
        }
        if rename(tmp, object) != 0 {
            let e = Errno(rawValue: errno)
            unlink(tmp)
            throw BPFError(code: .io, operation: "rename object", errno: e, detail: object)
        }
    }

    static func findInPath(_ tool: String) -> String? {
        guard let p = getenv("PATH") else { return nil }
        for dir in String(cString: p).split(separator: ":") where FileUtil.exists("\(dir)/\(tool)") {
            return "\(dir)/\(tool)"
        }
        return nil
    }

    /// posix_spawn + waitpid with a deadline; kills the child (by pid) on timeout.
    static func run(_ args: [String], timeoutSeconds: Int) throws -> Int32 {
        var pid: pid_t = 0
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        let rc = posix_spawn(&pid, args[0], nil, nil, &cargs, environ)
        guard rc == 0 else {
            throw BPFError(code: .io, operation: "posix_spawn", errno: Errno(rawValue: rc), detail: args[0])
        }
        let deadline = FileUtil.monotonicNs() + UInt64(timeoutSeconds) * 1_000_000_000
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR {
                throw BPFError(code: .io, operation: "waitpid", errno: Errno(rawValue: errno), detail: args[0])
            }
            if FileUtil.monotonicNs() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw BPFError(code: .io, operation: "compile BPF program", errno: .timedOut, detail: "\(args[0]) took over \(timeoutSeconds) s")
            }
            usleep(5_000)
        }
        // WIFEXITED / WEXITSTATUS by hand (macros are not imported).
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
