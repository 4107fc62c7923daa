// Threads in a condition wait: one own function waited in from two callers is a deadlock; from one caller it is not.

import Reports
import Triage
import XCTest

final class ConditionWaitDeadlockTests: XCTestCase {
    /// An eu-stack dump: one thread per (waiter, caller) pair, each in pthread_cond_wait under `waiter`.
    static func dump(_ threads: [(waiter: String, caller: String)]) -> String {
        var s = "PID 700 - worker\n"
        for (i, t) in threads.enumerated() {
            s += "TID \(701 + i):\n"
            s += "#0  0x00007f7e3b6957c2 __futex_abstimed_wait_common\n"
            s += "#1  0x00007f7e3b6981e9 pthread_cond_wait@@GLIBC_2.3.2\n"
            s += "#2  0x000055f0c1e03b70 \(t.waiter)\n"
            s += "#3  0x000055f0c1e054b6 \(t.caller)\n"
            s += "#4  0x00007f7e3b698aa4 start_thread\n"
        }
        return s
    }

    func title(_ threads: [(waiter: String, caller: String)]) throws -> String {
        try Triage.reports(inText: Self.dump(threads), file: "eu.txt")[0].title
    }

    func testTwoCallersOfOneWaitingFunctionAreADeadlock() throws {
        XCTAssertEqual(try title([("queue_wait", "writer_loop"), ("queue_wait", "drain_all")]),
                       "deadlock in queue_wait from drain_all and writer_loop")
    }

    /// Idle pool threads all wait from one caller: a hang, not a deadlock.
    func testOneCallerIsNotADeadlock() throws {
        XCTAssertEqual(try title([("pool_wait_work", "pool_worker"), ("pool_wait_work", "pool_worker")]), "hang in pool_wait_work")
    }

    /// The rule is the condition wait's: the same frames without pthread_cond_wait are not a wait.
    func testWithoutAConditionWaitNoThreadWaits() {
        let frames = ["__futex_abstimed_wait_common", "queue_wait", "writer_loop", "start_thread"]
        XCTAssertNil(Deadlock.waiter(frames))
        XCTAssertEqual(Deadlock.waiter(["__futex_abstimed_wait_common", "___pthread_cond_wait", "queue_wait", "writer_loop"]),
                       BlockedThread(primitive: "queue_wait", caller: "writer_loop"))
    }

    /// A lock wait keeps naming the lock call (the condition rule comes second).
    func testALockWaitStillNamesTheLockCall() {
        XCTAssertEqual(Deadlock.waiter(["futex_wait", "__GI___lll_lock_wait", "___pthread_mutex_lock", "map_update", "worker"]),
                       BlockedThread(primitive: "pthread_mutex_lock", caller: "map_update"))
    }
}
