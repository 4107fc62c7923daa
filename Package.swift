// swift-tools-version:6.0
import PackageDescription

/// Debug info with .debug_aranges so that libdw/eu-stack can map pcs to lines (see PLATFORM-NOTES).
let arangeFlags: [SwiftSetting] = [.unsafeFlags(["-Xllvm", "-generate-arange-section"])]

let package = Package(
    name: "bpfstress",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "bpfstress", targets: ["bpfstress"]),
        // Test-only: the same CLI plus the test scenarios and fixtures; the tests run this one.
        .executable(name: "bpfstress-selftest", targets: ["BPFStressSelftest"]),
        // The built-in runtime plugin that plants the four seed bugs (bpfstress bugbench).
        .library(name: "bpfstress-bugbench", type: .dynamic, targets: ["BugbenchPlugin"]),
        // The minimal plugin shown in the README, built and exercised by the tests.
        .library(name: "bpfstress-example-plugin", type: .dynamic, targets: ["ExamplePlugin"]),
        // Test-only: sleeps in one bpf command, so latency percentiles can be asserted.
        .library(name: "bpfstress-sleep-plugin", type: .dynamic, targets: ["SleepPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C shim: bpf_attr, telemetry shared memory, spawn, signal handlers.
        .target(
            name: "CBPFStress",
            cSettings: [.unsafeFlags(["-gdwarf-aranges"])],
            linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
        ),
        // C shim: ptrace, libunwind-ptrace, libelf symbol tables.
        .target(
            name: "CBPFCapture",
            cSettings: [.unsafeFlags(["-gdwarf-aranges"])],
            linkerSettings: [
                .linkedLibrary("unwind-ptrace"), .linkedLibrary("unwind-generic"),
                .linkedLibrary("unwind"), .linkedLibrary("lzma"), .linkedLibrary("elf"),
            ]
        ),
        // C shim: libdw/libdwfl symbols and file:line of a vmlinux (bpfstress triage --vmlinux).
        .target(
            name: "CDWSymbolizer",
            cSettings: [.unsafeFlags(["-gdwarf-aranges"])],
            linkerSettings: [.linkedLibrary("dw"), .linkedLibrary("elf")]
        ),
        // Leaf module: what every layer needs (SplitMix64, errno names, StressError); imports nothing of ours.
        .target(name: "Basics", swiftSettings: arangeFlags),
        .target(name: "BPFKit",
                dependencies: ["Basics", "CBPFStress", .product(name: "SystemPackage", package: "swift-system")],
                swiftSettings: arangeFlags),
        // Host fixtures around the runtime (network namespaces, cgroup members, a TCP client); not bpf(2).
        .target(name: "HostSupport", dependencies: ["BPFKit", "CBPFStress", .product(name: "SystemPackage", package: "swift-system")],
                swiftSettings: arangeFlags),
        .target(name: "CampaignFile", dependencies: ["Yams"], swiftSettings: arangeFlags),
        .target(name: "Reports", swiftSettings: arangeFlags),
        .target(name: "Capture",
                dependencies: ["CBPFCapture", "CBPFStress", "Reports", .product(name: "SystemPackage", package: "swift-system")],
                swiftSettings: arangeFlags),
        // Latency histograms, baselines, trends, shard merges (issue 16).
        .target(name: "Nightly", dependencies: ["Reports"], swiftSettings: arangeFlags),
        .target(name: "StressCore",
                dependencies: ["Basics", "BPFKit", "CBPFStress", "CBPFCapture", "CampaignFile", "Reports", "Capture", "Nightly"],
                swiftSettings: arangeFlags),
        // The fuzzer owns its state per thread; runtime exclusivity checks cost ~5% of a call.
        // Optimized even in debug builds: `swift test` runs fleets of fuzz workers, and an
        // unoptimized shadow model needed seconds for one 64K-entry batch call on a loaded
        // machine, past the 3 s TERM grace ("worker did not stop on TERM").
        .target(name: "Fuzz", dependencies: ["Basics", "BPFKit", "CBPFStress"],
                swiftSettings: arangeFlags + [.unsafeFlags(["-enforce-exclusivity=unchecked"]),
                                              .unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Scenarios", dependencies: ["Basics", "StressCore", "BPFKit", "Fuzz", "HostSupport"], swiftSettings: arangeFlags),
        .target(name: "Triage", dependencies: ["Reports", "CDWSymbolizer"], swiftSettings: arangeFlags),
        // Kernels under test in QEMU guests: launcher, initramfs, QMP, console watch, outer coordinator.
        .target(name: "VM", dependencies: ["Capture", "Reports", "CBPFStress"], swiftSettings: arangeFlags),
        // Runtime plugins (C shared libraries implementing include/bpfstress_runtime.h).
        .target(name: "BugbenchPlugin", dependencies: ["CBPFStress"], cSettings: [.unsafeFlags(["-gdwarf-aranges"])],
                linkerSettings: [.linkedLibrary("pthread")]),
        .target(name: "ExamplePlugin", dependencies: ["CBPFStress"]),
        // Test-only plugin: forwards to the kernel and sleeps in one bpf command (latency tests).
        .target(name: "SleepPlugin", dependencies: ["CBPFStress"]),
        // The CLI as a library, so that the product and the self-test binary share every command.
        .target(
            name: "BPFStressCLI",
            dependencies: ["Basics", "Scenarios", "StressCore", "Capture", "Reports", "Fuzz", "Triage", "VM", "Nightly", "CampaignFile",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: arangeFlags),
        .executableTarget(name: "bpfstress", dependencies: ["BPFStressCLI"], swiftSettings: arangeFlags),
        // Test-only from here: fixtures that fail on purpose, the scenarios that use them, and
        // bpfstress-selftest, which links them. The product links none of it.
        .target(name: "CTestFixtures", cSettings: [.unsafeFlags(["-gdwarf-aranges"])], linkerSettings: [.linkedLibrary("pthread")]),
        .target(name: "TestScenarios", dependencies: ["Basics", "BPFKit", "CTestFixtures", "HostSupport", "Scenarios", "StressCore"],
                swiftSettings: arangeFlags),
        .executableTarget(name: "BPFStressSelftest", dependencies: ["BPFStressCLI", "TestScenarios"], swiftSettings: arangeFlags),
        // Shared by the test targets: where the binaries are, headless Chromium.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "BPFKitTests", dependencies: ["BPFKit", "HostSupport"]),
        .testTarget(name: "CampaignFileTests", dependencies: ["CampaignFile"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports"]),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "Reports"]),
        .testTarget(name: "StressCoreTests", dependencies: ["Basics", "StressCore", "Scenarios", "TestScenarios", "HostSupport"]),
        .testTarget(name: "ScenariosTests", dependencies: ["Scenarios", "StressCore", "BPFKit", "HostSupport", "TestScenarios"]),
        .testTarget(name: "FuzzTests", dependencies: ["Basics", "Fuzz", "BPFKit"]),
        .testTarget(name: "TriageTests", dependencies: ["Triage", "Reports", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "PluginTests", dependencies: ["Basics", "BPFKit", "StressCore", "Scenarios"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Reports", "Nightly", "TestSupport"]),
        .testTarget(name: "NightlyTests", dependencies: ["Nightly", "Reports", "CBPFStress", "Yams"]),
        .testTarget(name: "VMTests", dependencies: ["VM", "Reports", "CampaignFile", "TestSupport"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
