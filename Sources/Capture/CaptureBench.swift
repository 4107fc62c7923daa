import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `bpfstress bench capture`: our all-thread capture against `eu-stack -p PID` on a process
/// with N threads blocked in a futex wait.
public enum CaptureBench {
    /// C source of the bench target: `threads` threads parked in pthread_cond_wait.
    static let source = #"""
    #include <pthread.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <unistd.h>
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    __attribute__((noinline)) void *parked_worker(void *arg) {
        pthread_mutex_lock(&m);
        for (;;) pthread_cond_wait(&c, &m);
        return arg;
    }
    int main(int argc, char **argv) {
        alarm(120); /* bounded even if the bench is interrupted */
        int n = argc > 1 ? atoi(argv[1]) : 64;
        for (int i = 0; i < n; i++) { pthread_t t; pthread_create(&t, NULL, parked_worker, NULL); }
        printf("ready\n");
        fflush(stdout);
        pause();
        return 0;
    }
    """#

    public enum BenchError: Error { case compile(String), spawn(String), notReady }

    /// Compiles C source with `cc -g -O0 -pthread` into dir; returns the binary path.
    public static func compile(source: String, name: String, in dir: String, extraArgs: [String] = []) throws -> String {
        let src = dir + "/\(name).c", bin = dir + "/\(name)"
        try source.write(toFile: src, atomically: true, encoding: .utf8)
        let log = dir + "/\(name).log"
        let cmd = (["cc", "-g", "-O0", "-pthread", "-o", bin, src] + extraArgs).map { "'\($0)'" }.joined(separator: " ")
        let pid = try Spawn.start(["/bin/sh", "-c", "\(cmd) >'\(log)' 2>&1"])
        guard let st = Spawn.wait(pid, timeout: 60), WaitStatus(st).exited, WaitStatus(st).exitCode == 0 else {
            throw BenchError.compile((try? String(contentsOfFile: log, encoding: .utf8)) ?? "cc failed")
        }
        return bin
    }

    /// Mean seconds per capture: (ours, eu-stack). euStack is -1 when eu-stack is missing.
    public static func run(threads: Int = 64, iterations: Int = 20) throws -> (ours: Double, euStack: Double) {
        let dir = NSTemporaryDirectory() + "bpfstress-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bin = try compile(source: source, name: "parked", in: dir)
        let pid = try Spawn.start([bin, String(threads)])
        defer { kill(pid, SIGKILL); _ = Spawn.wait(pid, timeout: 5) }
        // Ready when every worker sleeps in futex.
        let end = Date().addingTimeInterval(10)
        while ProcFS.tids(pid).count < threads + 1 || StackCapture.capture(pid: pid, userStacks: false).threads
            .filter({ $0.syscall?.name == "futex" }).count < threads {
            if Date() > end { throw BenchError.notReady }
            usleep(10000)
        }
        let n = max(1, iterations)
        var t0 = Date()
        for _ in 0..<n { _ = StackCapture.capture(pid: pid) }
        let ours = Date().timeIntervalSince(t0) / Double(n)
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/eu-stack") else { return (ours, -1) }
        t0 = Date()
        for _ in 0..<n {
            let p = try Spawn.start(["/usr/bin/eu-stack", "-p", String(pid)])
            _ = Spawn.wait(p, timeout: 30)
        }
        return (ours, Date().timeIntervalSince(t0) / Double(n))
    }
}
