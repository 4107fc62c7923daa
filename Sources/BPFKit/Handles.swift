import CBPFStress
import Glibc
import Synchronization

/// An owned bpf file descriptor. Closed exactly once: by `close()` or at deinit.
public class BPFHandle {
    /// The descriptor number as opened (kept for diagnostics after close).
    public let fd: Int32
    /// The runtime whose entry created this object; calls on it go through the same entry.
    public let runtime: Runtime
    /// Copy of the runtime's entry so hot-path calls skip protocol dispatch.
    @usableFromInline let rt: bpfs_rt
    /// fd while open, -1 once closed: calls after close get EBADF instead of
    /// reaching whatever object reused the number.
    @usableFromInline let live: Atomic<Int32>

    init(fd: Int32, runtime: Runtime) {
        self.fd = fd
        self.runtime = runtime
        self.rt = runtime.entry.raw
        self.live = Atomic(fd)
    }

    /// The fd to pass to the kernel: -1 after close.
    @inlinable var liveFD: Int32 { live.load(ordering: .relaxed) }

    /// close(2); idempotent and safe to race.
    public func close() {
        let old = live.exchange(-1, ordering: .acquiringAndReleasing)
        if old >= 0 { _ = Glibc.close(old) }
    }

    public var isClosed: Bool { live.load(ordering: .relaxed) < 0 }

    deinit { close() }
}

/// A map fd. `spec` is known when BPFKit created the map (or read it back by id).
public final class MapFD: BPFHandle {
    public let spec: MapSpec?
    init(fd: Int32, runtime: Runtime, spec: MapSpec?) {
        self.spec = spec
        super.init(fd: fd, runtime: runtime)
    }
}

/// A loaded program fd.
public final class ProgramFD: BPFHandle {
    public let name: String
    public let type: BPFProgType
    init(fd: Int32, runtime: Runtime, name: String, type: BPFProgType) {
        self.name = name
        self.type = type
        super.init(fd: fd, runtime: runtime)
    }
}

/// A bpf link fd; closing it detaches the program (unless pinned).
public final class LinkFD: BPFHandle {}
