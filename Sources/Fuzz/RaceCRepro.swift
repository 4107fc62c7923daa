// The C reproducer's race: the same two-thread algorithm as bpfs_fuzz_race.c, with every answer of both threads printed.
import BPFKit
import Foundation

extension CReproducer {
    /// The race routine (thread B's calls, thread A's sequence), as bpfs_fuzz_race.c runs it.
    static let racePrelude = """
    #include <pthread.h>
    #include <sched.h>
    struct race { int fd, kind, ready, a_done; unsigned int ks, vl, vs, max, rounds, progress, calls, entries;
                  const unsigned char *del, *keys, *vals; int a_err[64], b_err[\(RaceOps.bCalls)]; long mlen; };
    static void race_note(struct race *r, const void *k, int err, const void *v) {
        if (r->entries++ >= \(RaceOps.bEntries)) return;
        printf("      B call %u: key ", r->calls + 1); hex(k, r->ks); printf(" %s", errname(-err));
        if (!err) { printf(" value "); hex(v, r->vl); } printf("\\n");
    }
    static void race_half(struct race *r) {
        while (!__atomic_load_n(&r->a_done, __ATOMIC_ACQUIRE) && __atomic_load_n(&r->progress, __ATOMIC_ACQUIRE) < r->rounds / 2) sched_yield();
    }
    static int race_b_call(struct race *r, unsigned char *k, unsigned char *nk, unsigned char *v, unsigned char *tok, int *tv) {
        long e;
        switch (r->kind) {
        case 0: { int first = 1; e = 0;
            for (unsigned int s = 0; s < r->max + 16; s++) {
                e = next_key(r->fd, first ? NULL : k, nk); if (e) break; first = 0;
                long l = elem_call(BPF_MAP_LOOKUP_ELEM, r->fd, nk, v, 0); race_note(r, nk, -l, v); memcpy(k, nk, r->ks);
            }
            return -e; }
        case 1: case 2: { static unsigned char keys[64 * \(RaceOps.batchCount)]; union bpf_attr a; memset(&a, 0, SZ(batch));
            a.batch.map_fd = r->fd; a.batch.in_batch = *tv ? PTR(tok) : 0; a.batch.out_batch = PTR(nk); a.batch.keys = PTR(keys);
            a.batch.values = PTR(v); a.batch.count = \(RaceOps.batchCount);
            e = sys(r->kind == 1 ? BPF_MAP_LOOKUP_BATCH : BPF_MAP_LOOKUP_AND_DELETE_BATCH, &a, SZ(batch));
            if (!e || e == -ENOENT) for (unsigned int i = 0; i < a.batch.count && i < \(RaceOps.batchCount); i++) race_note(r, keys + i * r->ks, 0, v + i * r->vl);
            *tv = !e; if (!e) memcpy(tok, nk, r->ks > 4 ? r->ks : 4);
            return -e; }
        case 3: { race_half(r); union bpf_attr a; memset(&a, 0, SZ(map_fd)); a.map_fd = r->fd; return -sys(BPF_MAP_FREEZE, &a, SZ(map_fd)); }
        case 4: { void *p = mmap(NULL, r->mlen, PROT_READ, MAP_SHARED, r->fd, 0); if (p == MAP_FAILED) return errno;
            unsigned int el = (r->vs + 7) & ~7u;
            for (unsigned int i = 0; i < r->max && (long)i * el + r->vs <= r->mlen; i++) race_note(r, &i, 0, (unsigned char *)p + (long)i * el);
            munmap(p, r->mlen); return 0; }
        default: race_half(r); return dup2(devnull, r->fd) < 0 ? errno : 0;
        }
    }
    static void *race_b(void *arg) {
        struct race *r = arg; static unsigned char k[64], nk[64], tok[64], v[4096 * 16]; int tv = 0;
        __atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
        do { int e = race_b_call(r, k, nk, v, tok, &tv); r->b_err[r->calls++] = e;
             if ((r->kind == 3 && e != EBUSY) || r->kind == 5) break;
        } while (!__atomic_load_n(&r->a_done, __ATOMIC_ACQUIRE) && r->calls < \(RaceOps.bCalls) && r->entries + r->max + 16 <= \(RaceOps.bEntries));
        return NULL;
    }
    /* Thread A (this thread) and thread B (a new one, on CPU b_cpu) race on r->fd. */
    __attribute__((unused)) static long race_run(struct race *r, int b_cpu) {
        pthread_t b; pthread_attr_t at; cpu_set_t set; CPU_ZERO(&set); CPU_SET(b_cpu, &set);
        pthread_attr_init(&at); pthread_attr_setaffinity_np(&at, sizeof set, &set);
        if (pthread_create(&b, &at, race_b, r)) return -EAGAIN;
        for (long spin = 0; spin < 1000000 && !__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE); spin++) sched_yield();
        for (unsigned int j = 0; j < r->rounds; j++) {
            long e = r->del[j] ? ({ union bpf_attr a; memset(&a, 0, SZ(key)); a.map_fd = r->fd; a.key = PTR(r->keys + j * r->ks); sys(BPF_MAP_DELETE_ELEM, &a, SZ(key)); })
                               : elem_call(BPF_MAP_UPDATE_ELEM, r->fd, (void *)(r->keys + j * r->ks), (void *)(r->vals + j * r->vl), 0);
            r->a_err[j] = (int)-e; __atomic_store_n(&r->progress, j + 1, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&r->a_done, 1, __ATOMIC_RELEASE);
        pthread_join(b, NULL);
        for (unsigned int j = 0; j < r->rounds; j++) printf("      A call %u: %s%s", j + 1, r->del[j] ? "delete " : "update ", errname(-r->a_err[j])), printf("\\n");
        for (unsigned int i = 0; i < r->calls; i++) printf("      B call %u: %s\\n", i + 1, errname(-r->b_err[i]));
        return 0;
    }

    """

    /// A race call: thread A's sequence as data, the race, then the census walk the executor makes.
    static func raceBody(_ c: Call, _ s: MapShape) -> String {
        guard c.fd == .map else { return "        long r = -\(raceNotModelled);\n" }
        guard RaceOps.supported(c, s) else { return "        long r = fds[\(c.map)] < 0 || fds[\(c.map)] == CLOSED_FD ? -EBADF : -\(raceNotModelled);\n" }
        let seq = RaceOps.sequence(c, s)
        let keys = seq.flatMap { Layout.intBytes($0.key, s.keySize) }, vals = seq.flatMap { Layout.pattern($0.seed, s.valueLen) }
        let kind = RaceOps.kind(c)
        let fd = kind == 5 ? "dup(fds[\(c.map)])" : "fds[\(c.map)]"
        return """
                static const unsigned char del[] = \(bytes(seq.map { $0.del ? 1 : 0 })), keys[] = \(bytes(keys)), vals[] = \(bytes(vals));
                static struct race rc; memset(&rc, 0, sizeof rc);
                rc.fd = \(fd); rc.kind = \(kind); rc.ks = \(s.keySize); rc.vl = \(s.valueLen); rc.vs = \(s.valueSize); rc.max = \(s.maxEntries);
                rc.rounds = \(seq.count); rc.del = del; rc.keys = keys; rc.vals = vals; rc.mlen = \(Executor.mmapLength(s));
                long r = fds[\(c.map)] < 0 || fds[\(c.map)] == CLOSED_FD ? -EBADF : race_run(&rc, (sched_getcpu() + 1) % \(max(1, s.cpus)));
                if (\(kind == 5 ? 1 : 0)) close(rc.fd);
                printf("      interleavings are not deterministic: run it again to see others\\n");
                if (!r) { /* the census walk */
                    static unsigned char ck[64], cn[64], cv[4096 * 16]; int st = 0; long w;
                    while (st < \(min(s.maxEntries, Layout.walkCap) + 2) && !(w = next_key(fds[\(c.map)], st ? ck : NULL, cn))) {
                        long l = elem_call(BPF_MAP_LOOKUP_ELEM, fds[\(c.map)], cn, cv, 0);
                        printf("      census key "); hex(cn, \(s.keySize)); printf(" %s", errname(l)); if (!l) { printf(" value "); hex(cv, \(s.valueLen)); } printf("\\n");
                        memcpy(ck, cn, \(s.keySize)); st++;
                    }
                }

        """
    }
}
