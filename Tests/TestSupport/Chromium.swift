// Headless Chromium for the tests that render report pages: its DOM after scripts ran, and a screenshot.
import Foundation

public enum Chromium {
    /// The installed browser (scripts/bootstrap installs Debian's chromium), or nil.
    public static var path: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public struct Rendering {
        public var domStatus: Int32, dom: String
        public var shotStatus: Int32, screenshot: Data
    }

    /// Loads `page` twice in a private profile (root needs --no-sandbox): once for `--dump-dom`,
    /// once for a 1000x1400 PNG, also written to `shotPath` when one is given.
    public static func render(_ page: String, browser: String, shotPath: String? = nil) throws -> Rendering {
        let dir = NSTemporaryDirectory() + "bpfstress-chromium-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                      "--user-data-dir=\(dir)/profile", "--window-size=1000,1400"]
        let dom = try Subprocess.run(browser, common + ["--dump-dom", "file://" + page])
        let shot = shotPath ?? dir + "/shot.png"
        let r = try Subprocess.run(browser, common + ["--screenshot=\(shot)", "file://" + page])
        let png = (try? Data(contentsOf: URL(fileURLWithPath: shot))) ?? Data()
        return Rendering(domStatus: dom.status, dom: dom.out, shotStatus: r.status, screenshot: png)
    }
}

public enum Subprocess {
    /// Runs `exe` to completion with stdout kept and stderr dropped; SIGKILLed after `timeout` s.
    @discardableResult
    public static func run(_ exe: String, _ args: [String], timeout: Double = 60) throws -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        final class Sink: @unchecked Sendable { var data = Data() }
        let sink = Sink()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { sink.data = out.fileHandleForReading.readDataToEndOfFile(); done.signal() }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        _ = done.wait(timeout: .now() + 5)
        return (p.terminationStatus, String(decoding: sink.data, as: UTF8.self))
    }
}
