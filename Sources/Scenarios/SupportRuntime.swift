// Small runtime helpers of the map scenarios: recorded map ops and a bounded barrier.
import Basics
import BPFKit
import Foundation
import StressCore

extension ThreadContext {
    /// Runs one recorded op and returns its errno (0 on success) instead of throwing. An error
    /// that carries no errno is not a kernel outcome to judge, so it propagates (thread-runs).
    func errnoOf(_ kind: OpKind, label: String? = nil, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ body: () throws -> Void) throws -> Int32 {
        do {
            if let label { try op(kind, label: label, a0, a1, body) } else { try op(kind, a0, a1, body) }
            return 0
        } catch {
            guard let e = errnoNumber(of: error) else { throw error }
            return e
        }
    }
}

/// A barrier for the threads of one worker that never waits past the campaign: it gives
/// up when `keepRunning` turns false or a thread leaves (`breakBarrier`).
public final class TimedBarrier {
    private let cond = NSCondition()
    private let parties: Int
    private var arrived = 0
    private var generation = 0
    private var broken = false

    public init(parties: Int) { self.parties = max(1, parties) }

    /// True when all parties arrived; false when the barrier broke or the run is ending.
    public func wait(keepRunning: () -> Bool, heartbeat: () -> Void) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        if broken { return false }
        arrived += 1
        if arrived == parties {
            arrived = 0
            generation += 1
            cond.broadcast()
            return true
        }
        let g = generation
        while generation == g && !broken {
            _ = cond.wait(until: Date().addingTimeInterval(0.05))
            heartbeat()
            if generation == g && !keepRunning() {
                broken = true
                cond.broadcast()
            }
        }
        return generation != g
    }

    /// Releases every waiter for good (a thread is leaving).
    public func breakBarrier() {
        cond.lock()
        broken = true
        cond.broadcast()
        cond.unlock()
    }
}
