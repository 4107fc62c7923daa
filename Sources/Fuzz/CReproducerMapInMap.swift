// The C reproducer's map-in-map and BTF parts: inner_map_fd and put_inner fds, alive (GET_FD_BY_ID), the sweep that waits for every map to go, and BTF value blobs.
import BPFKit
import Foundation

extension CReproducer {
    /// Finding kinds that the sweep after the program reproduces (not one call's answer).
    static let sweepKinds: Set<String> = ["lifetime", "ledger"]

    /// The C expression of an `inner=` fd, as Executor.innerFD picks it.
    static func innerFD(_ i: Int) -> String {
        switch i {
        case -2: return "devnull"
        case -3: return "CLOSED_FD"
        default: return i >= 0 ? "fds[\(i)]" : "-1"
        }
    }

    static func mapInMap(_ c: Call, _ s: MapShape, _ fd: String) -> String {
        switch c.op {
        case .putInner:
            return place("k", Layout.key(c.key, s), slot: 0) + """
                    unsigned int ifd = (unsigned int)\(innerFD(c.inner));
                    void *v = place_in(1, &ifd, 4);
                    long r = elem_call(BPF_MAP_UPDATE_ELEM, \(fd), k, v, \(c.flags)ULL);

            """
        default:
            return "        long r = get_fd_by_id(ids[\(c.map)]); if (r > 0) r = 0; /* the fd is closed at once */\n        printf(\"      id %u\\n\", ids[\(c.map)]);\n"
        }
    }

    /// After a program that put inner maps: close every fd and mapping, then wait (2 s at most,
    /// as Executor.stillAlive does) for every map it made to go; a lifetime finding reproduces
    /// when one is still there.
    static func sweep(_ p: Program, finding: OracleFinding?) -> String {
        guard p.calls.contains(where: { $0.op == .putInner || $0.inner != -1 }) else { return "" }
        return """

            /* sweep: every map must go once nothing holds it (inner maps of a freed outer map go
             * after an RCU grace period, hence the bounded wait) */
            for (int s = 0; s < \(Executor.maxSlots); s++) {
                while (maps_n[s] > 0) { maps_n[s]--; munmap(maps_p[s][maps_n[s]], maps_len[s][maps_n[s]]); }
                if (fds[s] >= 0 && fds[s] != CLOSED_FD) close(fds[s]);
                fds[s] = -1;
            }
            {
                int left = 0;
                for (long waited = 0, pause = 100; ; waited += pause, pause = pause < 20000 ? pause * 2 : 20000) {
                    left = 0;
                    for (int i = 0; i < n_ids; i++) if (all_ids[i] && get_fd_by_id(all_ids[i]) >= 0) left++;
                    if (!left || waited > 2000000) break;
                    usleep(pause);
                }
                for (int i = 0; i < n_ids; i++) if (all_ids[i] && get_fd_by_id(all_ids[i]) >= 0) printf("      map id %u still alive after the sweep\\n", all_ids[i]);
                \(finding?.kind == "lifetime" ? "if (left) reproduced = 1;" : "(void)left;")
            }

        """
    }
}

extension CReproducer {
    /// A create with a BTF value: the same blob BPF_BTF_LOAD'ed, its fd and type ids in the attr
    /// (the fd is closed after the create, as the executor does). Empty without btf=. A refused
    /// load is the create's answer and no map is made, as in `Executor.createWithBTF`: a create
    /// without the BTF would answer for another call (an injected fault in the load once gave
    /// EEXIST there, and the C program created the map and said "not reproduced").
    static func btfAttr(_ c: Call) -> String {
        guard c.btf != 0 else { return "" }
        let b = BTFValue(fields: c.btf).blob(keySize: Int(c.keySize), valueSize: Int(c.valueSize), intKey: c.type == .array || c.type == .percpuArray || ShadowModel.localStorageTypes.contains(c.type))
        return """
                static const unsigned char btf_blob[] = \(bytes(b.bytes));
                union bpf_attr ba; memset(&ba, 0, SZ(btf_log_level)); ba.btf = PTR(btf_blob); ba.btf_size = sizeof btf_blob;
                long btf = sys(BPF_BTF_LOAD, &ba, SZ(btf_log_level));
                printf("      btf_load %s\\n", errname(btf));
                if (btf >= 0) { a.btf_fd = (__u32)btf; a.btf_key_type_id = \(b.keyType); a.btf_value_type_id = \(b.valueType); }

        """
    }
}
