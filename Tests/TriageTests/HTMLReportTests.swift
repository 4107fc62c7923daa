import Foundation
import Reports
import TestSupport
import XCTest

/// index.html: content checks on the string, then a real headless Chromium loads it, its DOM is
/// checked for the plot and the buckets, and a screenshot is checked to be non-blank.
final class HTMLReportTests: XCTestCase {
    static func summary() -> RunSummary {
        let t0 = Date(timeIntervalSince1970: 1_762_000_000)
        let hang = FindingBucket(signature: "9ac03a52d21b5798", type: .hang, title: "hang in fixture_block_in_pipe_read in test-hang",
                                 scenario: "test-hang", check: "no-hang", count: 2, firstSeen: t0, lastSeen: t0.addingTimeInterval(3),
                                 dumps: ["HANG: worker slot 0 pid 7 scenario test-hang\n--- thread 8 \"thang.0.0\"\n  user stack:\n    #0 0x1 read+0x4c (libc.so.6)\n  last ops:\n    IN FLIGHT test_hang <script>alert(1)</script>\u{1b}[0m\n"],
                                 ops: ["test_hang"])
        let leak = FindingBucket(signature: "00000000feedf00d", type: .leak, title: "leaked map bpfs_shared in map-parallel",
                                 scenario: "map-parallel", check: "no-leak", count: 1, firstSeen: t0, lastSeen: t0, dumps: ["map id 77"])
        var s = RunSummary(version: "0.1", campaign: "nightly", seed: 42, runtime: "kernel", kernelRelease: "6.18.0",
                           hostname: "vm", startedAt: t0, endedAt: t0.addingTimeInterval(30), durationSeconds: 30, workers: 4,
                           threads: 8, exitCode: 1,
                           scenarios: [ScenarioSummary(name: "map-parallel", workers: 2, threads: 4, ops: 90_000, opsPerSecond: 3000,
                                                       checks: [CheckSummary(name: "counter-exact", passed: 9, failed: 0)]),
                                       ScenarioSummary(name: "extension-restart", workers: 2, threads: 4, ops: 30_000, opsPerSecond: 1000,
                                                       checks: [CheckSummary(name: "struct-ops", passed: 0, failed: 0, skipReason: "no BTF on this kernel")]),
                                       ScenarioSummary(name: "percpu-batch-sizes", status: "skipped", skipReason: "needs 2 possible CPUs", workers: 0, threads: 0)],
                           buckets: [hang, leak])
        s.timeline = (1...30).map { (i: Int) -> TimelineSample in
            let a: Double = 2500 + Double(i % 7) * 150
            let b: Double = Double(800 + (i * 37) % 400)
            return TimelineSample(t: Double(i), opsPerSecond: ["map-parallel": a, "extension-restart": b])
        }
        s.parameters = ["duration": "30s", "workers": "4", "map-parallel.max_entries": "1024"]
        return s
    }

    func testPageHoldsParametersPlotBucketsLeaksAndSkipsAndNothingExternal() {
        let html = HTMLReport.render(summary: Self.summary(), log: "line 1\nline <2>\n")
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<td>map-parallel.max_entries</td><td>1024</td>"))
        XCTAssertEqual(html.components(separatedBy: "<polyline class=\"series\"").count - 1, 2)
        XCTAssertTrue(html.contains("data-scenario=\"map-parallel\""))
        XCTAssertTrue(html.contains("id=\"bucket-9ac03a52d21b5798\""))
        XCTAssertTrue(html.contains("[hang] hang in fixture_block_in_pipe_read in test-hang &times;2"))
        XCTAssertTrue(html.contains("<details><summary>dump 1 (6 lines)</summary><pre>HANG: worker slot 0"))
        XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[0m"))
        XCTAssertTrue(html.contains("leak: leaked map bpfs_shared in map-parallel"))
        XCTAssertTrue(html.contains("scenario percpu-batch-sizes skipped: needs 2 possible CPUs"))
        XCTAssertTrue(html.contains("check extension-restart/struct-ops skipped: no BTF on this kernel"))
        XCTAssertTrue(html.contains("line &lt;2&gt;"))
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("<link"))
        // The only URL is the SVG namespace, which is never fetched.
        XCTAssertEqual(html.components(separatedBy: "http").count - 1, 1)
    }

    func testEmptyTimelineStillHasAPlotArea() {
        var s = Self.summary()
        s.timeline = []
        let html = HTMLReport.render(summary: s, log: "")
        XCTAssertTrue(html.contains("<svg id=\"ops-plot\""))
        XCTAssertTrue(html.contains("no timeline samples"))
    }

    /// Grey-level standard deviation of an 8-bit RGB(A) PNG, decoded with python3's zlib (no extra packages).
    static let pngStats = #"""
import sys, zlib, struct
d = open(sys.argv[1], 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n'
pos, idat, w, h, ct = 8, b'', 0, 0, 0
while pos < len(d):
    n, = struct.unpack('>I', d[pos:pos+4]); t = d[pos+4:pos+8]; c = d[pos+8:pos+8+n]; pos += 12 + n
    if t == b'IHDR': w, h, bd, ct = struct.unpack('>IIBB', c[:10]); assert bd == 8
    elif t == b'IDAT': idat += c
bpp = {2: 3, 6: 4}[ct]; raw = zlib.decompress(idat); stride = w * bpp
prev = bytearray(stride); rows = []; i = 0
for y in range(h):
    f = raw[i]; line = bytearray(raw[i+1:i+1+stride]); i += 1 + stride
    for x in range(stride):
        a = line[x-bpp] if x >= bpp else 0; b = prev[x]; c = prev[x-bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
g = [sum(r[x:x+3]) / 3 for r in rows[::4] for x in range(0, stride, bpp * 4)]
m = sum(g) / len(g); var = sum((v - m) ** 2 for v in g) / len(g)
dark = sum(1 for v in g if v < 128) / len(g)
print(w, h, round(var ** 0.5, 2), round(dark, 4))
"""#

    func testRendersInHeadlessChromiumWithPlotAndBuckets() throws {
        guard let chrome = Chromium.path else {
            XCTFail("chromium not installed: run scripts/bootstrap (Debian package chromium)")
            return
        }
        let dir = NSTemporaryDirectory() + "bpfstress-html-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let page = dir + "/index.html", shot = dir + "/shot.png"
        try HTMLReport.render(summary: Self.summary(), log: "run log\n").write(toFile: page, atomically: true, encoding: .utf8)
        let r = try Chromium.render(page, browser: chrome, shotPath: shot)
        XCTAssertEqual(r.domStatus, 0)
        XCTAssertTrue(r.dom.contains("<svg id=\"ops-plot\""), String(r.dom.prefix(500)))
        XCTAssertEqual(r.dom.components(separatedBy: "<polyline class=\"series\"").count - 1, 2)
        XCTAssertTrue(r.dom.contains("id=\"bucket-9ac03a52d21b5798\""))
        XCTAssertTrue(r.dom.contains("id=\"bucket-00000000feedf00d\""))
        XCTAssertTrue(r.dom.contains("<details>"))
        XCTAssertEqual(r.shotStatus, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: shot))
        let stats = try Subprocess.run("/usr/bin/python3", ["-c", Self.pngStats, shot])
        let f = stats.out.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(f.count, 4, stats.out)
        guard f.count == 4 else { return }
        XCTAssertEqual(f[0], 1000)
        XCTAssertEqual(f[1], 1400)
        // A blank (all-white) page has deviation 0 and no dark pixels; text, tables and the plot give both.
        XCTAssertGreaterThan(f[2], 5, stats.out)
        XCTAssertGreaterThan(f[3], 0.001, stats.out)
    }
}
