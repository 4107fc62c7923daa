// The fail_nth call: the next call runs with this thread's n-th fault site failing; executor, model and text.
import Basics
import BPFKit
import CBPFStress
import Foundation
import Glibc

// `fail_nth n=N` writes N to /proc/thread-self/fail-nth: the N-th fault-injection site this
// thread reaches (a slab or page allocation) fails. The call after it runs armed; right after
// that call the executor reads fail-nth back (0: the fault was injected) and writes 0, so the
// fault never outlives the call it was meant for. The model accepts ENOMEM only there.

public enum FaultNth {
    static func format(_ c: Call) -> String { "fail_nth n=\(c.count)" }

    static func parse(_ c: inout Call, _ k: String, _ v: String, fail: (String) -> ProgramParseError) throws {
        guard k == "n" else { throw fail("fail_nth has no argument '\(k)' (expected: n)") }
        guard let n = UInt32(v), (1...10_000).contains(n) else { throw fail("n=\(v): the fault site to fail must be 1...10000") }
        c.count = n
    }

    /// The calls a fault is armed for: bpf(2) commands that allocate and whose failure the model
    /// can follow (not walks, races, mmaps or pins, which are many calls or leave files).
    static let armable: Set<CallOp> = [.create, .update, .lookup, .delete, .nextKey, .lookupAndDelete, .lookupBatch,
                                       .lookupAndDeleteBatch, .updateBatch, .deleteBatch, .freeze, .putInner,
                                       .info, .objGet, .fdByID]

    /// The C reproducer's fail_nth: the same file, the same write before the armed call, the
    /// same read-back and disarm right after it. stdout is flushed before arming: the window
    /// between arming and the armed call must allocate nothing (see `cMainSetup`).
    static let cPrelude = """
    static int fnth_fd = -1;
    __attribute__((unused)) static long fail_nth_arm(unsigned n) {
        char b[16]; int len = snprintf(b, sizeof b, "%u", n);
        fflush(stdout);
        if (fnth_fd >= 0) close(fnth_fd);
        fnth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
        if (fnth_fd < 0) return -errno;
        if (write(fnth_fd, b, len) != len) { long e = -errno; close(fnth_fd); fnth_fd = -1; return e; }
        return 0;
    }
    __attribute__((unused)) static void fail_nth_done(void) {
        char b[16] = {0};
        if (fnth_fd < 0) return;
        long n = pread(fnth_fd, b, sizeof b - 1, 0);
        printf("      fault injected: %s\\n", n > 0 && atoi(b) == 0 ? "yes" : "no");
        if (write(fnth_fd, "0", 1) != 1) perror("fail-nth");
        close(fnth_fd); fnth_fd = -1;
    }

    """

    /// The start of main() in a C reproducer with fail_nth. stdout writes into a static buffer:
    /// stdio's own buffer is malloc'ed at the first printf, which came right after arming (the
    /// fail_nth call's report line), and its brk was the armed fault site, so the armed call
    /// never saw its fault (6.12.117 guest: "not reproduced" until this). The injectors' knobs
    /// are the machine's: the program says when failslab exempts sleeping allocations.
    static let cMainSetup = """
        { static char outbuf[1 << 16]; setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf); }
        {
            char k[8] = {0}; int kfd = open("/sys/kernel/debug/failslab/ignore-gfp-wait", O_RDONLY | O_CLOEXEC);
            if (kfd >= 0 && read(kfd, k, sizeof k - 1) > 0 && k[0] == 'Y')
                printf("note: /sys/kernel/debug/failslab/ignore-gfp-wait is Y, so fail-nth skips sleeping allocations; bpfstress sets it to N in its guests\\n");
            if (kfd >= 0) close(kfd);
        }

    """

    /// Counts of one fuzzer's armed calls.
    public struct Stats: Sendable, Equatable {
        public var armed = 0
        /// The fault site was reached (fail-nth read back 0).
        public var injected = 0
        /// ...and the call failed with ENOMEM (else the kernel absorbed the failure).
        public var failed = 0
        public init() {}
    }
}

extension Executor {
    /// fail_nth: opens this thread's fail-nth (the executor may be driven by any thread, so it
    /// is opened by the one that runs the call), checks that it takes n (write n, then 0), and
    /// leaves n to be written right before the next call's first bpf() (bpfs_fault_arm_next):
    /// the Swift code before that syscall (a BTF blob built, a name copied) must not take the
    /// fault. Errno: the open's or the write's.
    func runFailNth(_ c: Call, into r: inout CallResult) {
        disarmFault()
        let fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { r.errno = Glibc.errno; return }
        let text = String(c.count)
        let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        _ = "0".withCString { Glibc.write(fd, $0, 1) }
        if n != text.utf8.count { r.errno = n < 0 ? Glibc.errno : EIO; Glibc.close(fd); return }
        faultFD = fd
        bpfs_fault_arm_next(fd, c.count)
        r.count = c.count
    }

    /// After the armed call: was the fault injected? Disarms either way.
    @inline(never)
    func finishFault(_ r: inout CallResult) {
        // No bpf() since fail_nth (a call refused in user space): nothing was armed.
        if bpfs_fault_cancel() != 0 { disarmFault(); r.mutableMore.faultInjected = false; return }
        var buf = [UInt8](repeating: 0, count: 16)
        let n = buf.withUnsafeMutableBytes { pread(faultFD, $0.baseAddress, 15, 0) }
        let left = n > 0 ? Int(String(decoding: buf.prefix(Int(n)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) : nil
        disarmFault()
        r.mutableMore.faultInjected = left == 0
    }

    /// Writes 0 to an armed fail-nth and closes it.
    func disarmFault() {
        guard faultFD >= 0 else { return }
        _ = bpfs_fault_cancel()
        _ = "0".withCString { Glibc.write(faultFD, $0, 1) }
        Glibc.close(faultFD)
        faultFD = -1
    }
}

extension ShadowModel {
    /// fail_nth itself: 0 where the kernel has fail-nth, else the open's ENOENT (no
    /// /proc/thread-self/fail-nth without CONFIG_FAULT_INJECTION: the probed fact).
    func failNth(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let want: Int32 = failNthAvailable ? 0 : ENOENT
        if expect(&ck, [want], r.errno, failNthAvailable ? "fail_nth: the kernel has fail-nth" : "fail_nth: no /proc/thread-self/fail-nth on this kernel"), r.errno == 0 {
            faultArmed = true
        }
    }

    /// The call after fail_nth, before its own oracle: true when it is judged here (an injected
    /// ENOMEM of a call that fails before it changes anything); false: its own oracle runs, with
    /// ENOMEM accepted when the fault was injected (injectedNow).
    func armedCall(_ op: CallOp, _ map: Int, _ r: CallResult) -> Bool {
        faultArmed = false
        // A mutation can put fail_nth before any call: the executor disarms it before a call
        // that is not armable, and that call is judged as usual.
        guard FaultNth.armable.contains(op) else { return false }
        faultStats.armed += 1
        injectedNow = r.faultInjected
        guard injectedNow else { return false }
        faultStats.injected += 1
        guard r.errno == ENOMEM else { return false }
        faultStats.failed += 1
        note(ENOMEM)
        switch op {
        // map_{update,lookup,delete}_elem, get_next_key and lookup batches copy the key and
        // value into fresh allocations first; an element's own allocation fails before it is
        // linked; freeze, info and put_inner change nothing when they fail.
        case .update, .lookup, .delete, .nextKey, .lookupAndDelete, .lookupBatch, .freeze, .info, .putInner:
            injectedNow = false
            return true
        case .lookupAndDeleteBatch:
            // A hash batch reallocates its buffers between buckets: the buckets before were
            // already deleted and copied out. The entries may be gone.
            if let m = maps[map] { m.blur(); m.mutated() }
            injectedNow = false
            return true
        default:
            // create, obj_get, fd_by_id (a slot is filled or not), update/delete batches (the
            // first `count` elements were processed): their own model, with ENOMEM accepted.
            return false
        }
    }
}
