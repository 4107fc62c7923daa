// lock-contention-abba's fentry variant: the seed's recipe, a program on queued_spin_lock_slowpath.
import Basics
import BPFKit
import CBPFStress
import Foundation
import StressCore

/// The seed's own recipe (bpftrace's `kfunc:native_queued_spin_lock_slowpath`): an fentry
/// program on the spin-lock slow path updates a few hash keys while threads on every CPU update
/// and delete the same keys and churn maps, so that the slow path is entered with bucket locks
/// held. Before 6.15 the bucket lock is a raw spinlock: the ABBA hangs the kernel (the VM host
/// then captures every vCPU's NMI backtrace). Gated by a probe: the kernel must let a program
/// attach there. Because a hang takes the whole machine with it, it runs only inside a
/// bpfstress guest (`--kernel`), unless `allow_host` is set.
public final class LockContentionFentry: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "lock-contention-fentry",
        shortName: "abbafe",
        summary: "fentry program on queued_spin_lock_slowpath updating hash keys that all CPUs update and delete (guests)",
        bugClass: "ABBA deadlock between a spin-lock slow-path program and a hash-map bucket lock held on another CPU",
        requirements: [.bpfLoad, .btf],
        parameters: [
            ParameterSpec("target", .string, default: .string("native_queued_spin_lock_slowpath"),
                          help: "kernel function the program attaches to (fentry)"),
            ParameterSpec("churn_every", .int, default: .int(4), help: "one op in N creates and frees a map (contends kernel spinlocks)"),
            ParameterSpec("allow_host", .bool, default: .bool(false), help: "also run outside a bpfstress guest (can hang the machine)"),
        ],
        checks: [
            CheckSpec("attach", "an fentry program attaches to the slow path (else the kernel does not allow it: skipped)"),
            CheckSpec("map-errnos", "user-space update/delete fail only with EBUSY, EDEADLK or ETIMEDOUT (tolerated) or ENOENT/E2BIG"),
            CheckSpec("prog-errnos", "the program's own updates fail only with EBUSY, EDEADLK, ETIMEDOUT or E2BIG"),
            CheckSpec("prog-fired", "the program ran on the slow path during the run (else it proved nothing)"),
        ],
        objects: ["lock_slowpath"])

    static let keys: UInt32 = 4
    let runtime: any Runtime
    var handle: OpaquePointer?
    var sharedFD: Int32 = -1, outcomesFD: Int32 = -1
    let worker: WorkerContext

    public init(worker: WorkerContext) throws {
        self.worker = worker
        runtime = worker.runtime
        guard Probes.inBPFStressGuest() || worker.params.bool("allow_host") else {
            let why = "runs only inside a bpfstress guest (run --kernel IMAGE): a deadlock on the spin-lock slow path takes the whole machine down"
            for c in Self.descriptor.checks { worker.skipCheck(c.name, reason: why) }
            return
        }
        let path = try ProgramCatalog.objectPath("lock_slowpath")
        let target = worker.params.string("target")
        var err: Int32 = 0
        var msg = [CChar](repeating: 0, count: 512)
        handle = bpfs_fentry_open(path, "on_slowpath", target, &err, &msg, msg.count)
        guard let h = handle else {
            let why = "fentry on \(target) does not attach here: \(ErrnoName.name(-err)) (\(String(cString: msg)))"
            for c in Self.descriptor.checks { worker.skipCheck(c.name, reason: why) }
            return
        }
        sharedFD = bpfs_fentry_map_fd(h, "slow_shared")
        outcomesFD = bpfs_fentry_map_fd(h, "slow_outcomes")
    }

    public func teardown() {
        if let h = handle { bpfs_fentry_close(h); handle = nil }
    }

    public func run(thread: ThreadContext) throws {
        guard handle != nil else { while thread.keepRunning { usleep(50_000); thread.heartbeat() }; return }
        if thread.index == 0 { thread.pass("attach") }
        let churnEvery = max(0, thread.params.int("churn_every"))
        var clean = true
        var n = 0
        while thread.keepRunning {
            var key = UInt32(truncatingIfNeeded: thread.rng.next()) % Self.keys
            var value = UInt64(thread.index) << 32 | UInt64(n)
            n += 1
            let r = thread.rng.next()
            if churnEvery > 0 && r % UInt64(churnEvery) == 0 {
                let spec = MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, name: "bpfs_abbafe_tmp")
                let m: MapFD? = try? thread.op(.mapCreate, label: "contention") { try runtime.mapCreate(spec) }
                m?.close()
                continue
            }
            let update = r & 0x100 == 0
            let fd = sharedFD
            let rc: Int32
            if update {
                rc = try thread.op(.mapUpdate, UInt64(fd), UInt64(key)) {
                    withUnsafeBytes(of: &key) { k in withUnsafeBytes(of: &value) { v in bpfs_fentry_update(fd, k.baseAddress, v.baseAddress) } }
                }
            } else {
                rc = try thread.op(.mapDelete, UInt64(fd), UInt64(key)) {
                    withUnsafeBytes(of: &key) { k in bpfs_fentry_delete(fd, k.baseAddress) }
                }
            }
            if rc < 0 {
                let e = Int32(-rc)
                if e == EBUSY || e == EDEADLK || e == ETIMEDOUT { thread.tolerate(e) }
                else if e == ENOENT || e == E2BIG { }
                else if clean {
                    clean = false
                    thread.fail("map-errnos", title: "\(update ? "bpf_map_update_elem" : "bpf_map_delete_elem") failed: \(ErrnoName.name(e)) in \(Self.descriptor.name)",
                                detail: "key \(key) while an fentry program on the slow path updates the same keys", errno: e,
                                op: update ? .mapUpdate : .mapDelete)
                }
            }
            if n % 256 == 0 { thread.heartbeat(); if clean { thread.pass("map-errnos") } }
        }
    }

    /// The program's outcome counters once every thread is done.
    public func finish(thread: ThreadContext) {
        guard let h = handle else { return }
        bpfs_fentry_detach(h)
        var o = [UInt64](repeating: 0, count: 8)
        for i in 0..<8 {
            var k = UInt32(i), v: UInt64 = 0
            _ = withUnsafeBytes(of: &k) { kp in withUnsafeMutableBytes(of: &v) { bpfs_fentry_lookup(outcomesFD, kp.baseAddress, $0.baseAddress) } }
            o[i] = v
        }
        let summary = "fired \(o[0]), ok \(o[1]), EBUSY \(o[2]), EDEADLK \(o[3]), ETIMEDOUT \(o[4]), E2BIG \(o[7]), other \(o[5])"
        // Workers have no stdout: in a guest the counts go to the job share, beside the guest's report.
        let line = "slot \(worker.slotIndex): \(summary)\n"
        let fd = open("/run/bpfstress-job/lock-contention-fentry.txt", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if fd >= 0 { _ = line.withCString { write(fd, $0, strlen($0)) }; close(fd) }
        if o[0] > 0 { thread.pass("prog-fired") } else {
            thread.fail("prog-fired", title: "fentry program on the slow path never ran in \(Self.descriptor.name)",
                        detail: "no contended spinlock entered the slow path during the run: \(summary)")
        }
        if o[5] == 0 { thread.pass("prog-errnos") } else {
            thread.fail("prog-errnos", title: "slow-path program's bpf_map_update_elem failed: \(ErrnoName.name(Int32(truncatingIfNeeded: o[6]))) in \(Self.descriptor.name)",
                        detail: summary, errno: Int32(truncatingIfNeeded: o[6]))
        }
    }
}
