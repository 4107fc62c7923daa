import BPFKit
import Foundation
import XCTest
@testable import StressCore

final class LeakCheckTests: XCTestCase {
    func testAMapLeftBehindWithAnOwnedNameIsALeak() throws {
        let rt = KernelRuntime()
        let before = Inventory.take(runtime: rt)
        // Stands in for an object a scenario forgot: still alive when the campaign ends.
        let leaked = try rt.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, name: "connects"))
        let foreign = try rt.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, name: "not_ours"))
        let id = try rt.mapInfo(leaked).id
        let r = LeakCheck.compare(before: before, runtime: rt, owned: ["connects"], settle: 0.2)
        XCTAssertEqual(r.leaks, ["map id \(id) \"connects\""])
        XCTAssertTrue(r.unattributed.contains("map id \(try rt.mapInfo(foreign).id) \"not_ours\""), "\(r.unattributed)")
        leaked.close()
        foreign.close()
        // Once closed, the kernel frees it (after an RCU grace period) and the check is clean.
        let clean = LeakCheck.compare(before: before, runtime: rt, owned: ["connects"], settle: 3)
        XCTAssertEqual(clean.leaks, [])
    }

    func testDiffReportsCampaignCgroupsNetnsAndMounts() {
        let before = Inventory()
        var after = Inventory()
        after.cgroups = ["/sys/fs/cgroup/unified/bpfstress.1.2"]
        after.netns = ["bpfstress-7"]
        after.bpffsMounts = ["/tmp/bpfstress-bpffs-9"]
        after.programs = [41: "count_connect4", 42: "sshd_filter"]
        after.links = [5: 41, 6: 42]
        let r = LeakCheck.diff(before, after, ["count_connect4"])
        XCTAssertEqual(r.leaks, ["program id 41 \"count_connect4\"", "link id 5 to program id 41",
                                 "cgroup /sys/fs/cgroup/unified/bpfstress.1.2", "network namespace bpfstress-7",
                                 "bpffs mount /tmp/bpfstress-bpffs-9"])
        XCTAssertEqual(r.unattributed, ["program id 42 \"sshd_filter\"", "link id 6 to program id 42"])
        XCTAssertEqual(LeakCheck.diff(after, after, ["count_connect4"]).leaks, [])
    }
}
