import Capture
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// C fixture programs, compiled at test time with `cc -g -O0 -pthread`. They are Swift string
/// literals because a Swift test target cannot hold .c files. Each one calls alarm() so a
/// leaked fixture dies on its own.
enum Fixtures {
    static let abba = #"""
    #include <pthread.h>
    #include <stdio.h>
    #include <unistd.h>
    static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
    static pthread_barrier_t bar;
    __attribute__((noinline)) void *lock_a_then_b(void *x) {
        pthread_mutex_lock(&a); pthread_barrier_wait(&bar); pthread_mutex_lock(&b); return x;
    }
    __attribute__((noinline)) void *lock_b_then_a(void *x) {
        pthread_mutex_lock(&b); pthread_barrier_wait(&bar); pthread_mutex_lock(&a); return x;
    }
    int main(void) {
        alarm(40);
        pthread_barrier_init(&bar, NULL, 2);
        pthread_t t1, t2;
        pthread_create(&t1, NULL, lock_a_then_b, NULL);
        pthread_create(&t2, NULL, lock_b_then_a, NULL);
        printf("ready\n"); fflush(stdout);
        pthread_join(t1, NULL);
        return 0;
    }
    """#

    static let pipePeers = #"""
    #include <stdio.h>
    #include <unistd.h>
    __attribute__((noinline)) void wait_for_peer(int fd) { char c; (void)read(fd, &c, 1); }
    int main(void) {
        int p1[2], p2[2];
        pipe(p1); pipe(p2);
        alarm(40);
        if (fork() == 0) { alarm(40); wait_for_peer(p2[0]); (void)write(p1[1], "x", 1); return 0; }
        wait_for_peer(p1[0]); (void)write(p2[1], "x", 1);
        return 0;
    }
    """#

    static let blockedReader = #"""
    #include <pthread.h>
    #include <unistd.h>
    static int fds[2];
    __attribute__((noinline)) void *blocked_reader(void *x) { char c; (void)read(fds[0], &c, 1); return x; }
    int main(void) {
        alarm(40);
        pipe(fds);
        pthread_t t;
        pthread_create(&t, NULL, blocked_reader, NULL);
        pthread_join(t, NULL);
        return 0;
    }
    """#

    /// memcpy runs past a PROT_NONE guard page. With -DWITH_HANDLER it first installs the
    /// crash handler on fd 3 (a socket: notify and release).
    static let segv = #"""
    #include <stdio.h>
    #include <string.h>
    #include <sys/mman.h>
    #include <unistd.h>
    #ifdef WITH_HANDLER
    #include "bpfs_crash.h"
    #endif
    static char src[8192];
    static volatile size_t count = 4096;
    __attribute__((noinline)) void copy_values(char *dst, const char *from, size_t n) { memcpy(dst, from, n); }
    int main(void) {
        alarm(40);
        long pg = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect(m + pg, pg, PROT_NONE);
    #ifdef WITH_HANDLER
        if (bpfs_crash_install(3) != 0) return 3;
    #endif
        printf("guard %p %ld\n", (void *)(m + pg), pg); fflush(stdout);
        copy_values(m + pg - 100, src, count);
        return 0;
    }
    """#

    static var dir: String = {
        // Remove what earlier runs (now dead) left behind; ours is removed by the next run.
        let tmp = NSTemporaryDirectory()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []
            where name.hasPrefix("bpfstress-capture-tests-") {
            if let pid = Int32(name.dropFirst("bpfstress-capture-tests-".count)), kill(pid, 0) != 0 {
                try? FileManager.default.removeItem(atPath: tmp + name)
            }
        }
        let d = tmp + "bpfstress-capture-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()
    static var built: [String: String] = [:]

    /// Path of Sources/CBPFCapture in this checkout.
    static var cshimDir: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/CBPFCapture").path
    }

    static func build(_ name: String, _ source: String, extra: [String] = []) throws -> String {
        if let b = built[name] { return b }
        let b = try CaptureBench.compile(source: source, name: name, in: dir, extraArgs: extra)
        built[name] = b
        return b
    }
}

/// A spawned fixture that is always killed and reaped.
final class FixtureProcess {
    let pid: Int32
    var reaped = false
    var stdoutRead: Int32 = -1

    init(_ argv: [String], extraFDs: [Int32] = [], captureStdout: Bool = false) throws {
        var fds: [Int32] = [-1, -1, -1] + extraFDs
        var p: (read: Int32, write: Int32)?
        if captureStdout { p = try Spawn.pipe(); fds[1] = p!.write }
        pid = try Spawn.start(argv, fds: fds)
        if let p { close(p.write); stdoutRead = p.read }
    }

    /// Kills (SIGKILL, by pid) and reaps; returns the wait status.
    @discardableResult
    func stop() -> Int32? {
        if reaped { return nil }
        kill(pid, SIGKILL)
        let st = Spawn.wait(pid, timeout: 5)
        reaped = true
        if stdoutRead >= 0 { close(stdoutRead); stdoutRead = -1 }
        return st
    }

    func waitExit(timeout: Double) -> Int32? {
        let st = Spawn.wait(pid, timeout: timeout)
        if st != nil { reaped = true }
        return st
    }

    deinit { stop() }
}

/// Polls cond every 10 ms for at most `timeout` seconds.
func waitUntil(_ timeout: Double, _ cond: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if cond() { return true }
        usleep(10000)
    }
    return cond()
}

/// Reads until a newline or timeout.
func readLine(_ fd: Int32, timeout: Double) -> String? {
    var out: [UInt8] = []
    let end = Date().addingTimeInterval(timeout)
    var b: [UInt8] = [0]
    while Date() < end {
        var p = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        guard poll(&p, 1, 50) >= 0 else { return nil }
        if p[0].revents == 0 { continue }
        if read(fd, &b, 1) != 1 { break }
        if b[0] == 10 { return String(decoding: out, as: UTF8.self) }
        out.append(b[0])
    }
    return nil
}

func readExactly(_ fd: Int32, _ n: Int, timeout: Double) -> [UInt8]? {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: n)
    let end = Date().addingTimeInterval(timeout)
    while out.count < n && Date() < end {
        var p = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        guard poll(&p, 1, 50) >= 0 else { return nil }
        if p[0].revents == 0 { continue }
        let k = read(fd, &buf, n - out.count)
        if k <= 0 { return nil }
        out += buf[0..<k]
    }
    return out.count == n ? out : nil
}

/// State letter and TracerPid from /proc/PID/status.
func traceStatus(_ pid: Int32) -> (state: String, tracer: String) {
    let s = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    var state = "", tracer = ""
    for line in s.split(separator: "\n") {
        if line.hasPrefix("State:") { state = line.dropFirst(6).trimmingCharacters(in: .whitespaces) }
        if line.hasPrefix("TracerPid:") { tracer = line.dropFirst(10).trimmingCharacters(in: .whitespaces) }
    }
    return (state, tracer)
}
