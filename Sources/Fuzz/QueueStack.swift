// The queue and stack parts of the oracle: push with its full-map rules (peek and pop are in ElementOps).
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    /// A push: NOEXIST is EINVAL; a full map is E2BIG unless BPF_EXIST replaces the oldest value.
    func queueUpdate(_ ck: inout Check, _ m: MapModel, _ value: Bytes, _ flags: UInt64, got: Int32) {
        let s = m.shape
        if flags & BPFUpdateFlags.noExist != 0 || flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, "flags=\(flags)"); return }
        if m.deque.count >= s.maxEntries {
            if flags != BPFUpdateFlags.exist { expect(&ck, [E2BIG], got, "full (\(s.maxEntries)) without BPF_EXIST"); return }
            if expect(&ck, [0], got, "full: BPF_EXIST replaces the oldest") { m.deque.removeFirst(); m.deque.append(value) }
            return
        }
        if expect(&ck, [0], got, "push") { m.deque.append(value) }
    }
}
