// The C side of devmap, cpumap, stack_trace and arena: a private netns for devmap updates, and the executor's own answers mirrored.
import BPFKit
import Foundation

extension CReproducer {
    /// Statements at the top of main for a program that creates a devmap: the C program enters
    /// a netns of its own as the executor's thread does (only lo, ifindex 1, exists there), or
    /// answers its devmap updates with the executor's EOPNOTSUPP when it cannot.
    static func devcpuPrologue(_ p: Program) -> String {
        guard p.calls.contains(where: { $0.op == .create && ($0.type == .devmap || $0.type == .devmapHash) }) else { return "" }
        return """
                /* devmap ifindexes resolve in this thread's netns: a private one (unshare CLONE_NEWNET), as the fuzzer's. */
                int no_netns = syscall(SYS_unshare, 0x40000000L) != 0;
                if (no_netns) printf("no private netns (%s): devmap updates answer EOPNOTSUPP, as the executor's do\\n", strerror(errno));
                (void)no_netns;

        """
    }

    /// The body of call `c` when the executor answers it itself: a devmap update outside the
    /// private netns, an arena mmap (not modelled); nil for every other call.
    static func devcpuBody(_ c: Call, _ s: MapShape, _ p: Program) -> String? {
        let open = "fds[\(c.map)] >= 0 && fds[\(c.map)] != CLOSED_FD"
        let cond: String
        if (c.op == .update || c.op == .putInner || c.op == .putProg) && s.isDevmap && c.fd == .map && !devcpuPrologue(p).isEmpty {
            cond = "no_netns && \(open)"
        } else if c.op == .mmap && s.type == .arena && c.fd == .map {
            cond = open
        } else { return nil }
        return "        long r_ = -\(c.op == .mmap ? arenaMmapNotModelled : devmapNoNetns);\n        if (!(\(cond))) {\n" + body(c, s) + "        r_ = r; }\n        long r = r_;\n"
    }
}
