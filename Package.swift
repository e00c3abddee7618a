// swift-tools-version:6.0
// charrnn: small Unix filters that train, sample and inspect character-level
// recurrent language models on the CPU.

import PackageDescription
import Foundation

// The kernels are written for 8-lane SIMD with fused multiply-add. On x86_64,
// Swift's default target (x86-64 baseline) splits SIMD8<Float> into SSE halves
// and never emits FMA, so release builds ask clang's importer for AVX2 and FMA,
// which also switches Swift's code generation to them. A binary built so needs
// an AVX2 machine (Intel Haswell, AMD Zen or newer); every tool checks that at
// start-up and says so. CHARRNN_PORTABLE=1 builds for the baseline instead.
let portable = ProcessInfo.processInfo.environment["CHARRNN_PORTABLE"] == "1"
#if arch(x86_64)
let simdFlags: [String] = portable ? [] : ["-Xcc", "-mavx2", "-Xcc", "-mfma"]
let simdDefines: [SwiftSetting] = portable ? [] : [.define("CHARRNN_AVX2")]
#else
let simdFlags: [String] = []
let simdDefines: [SwiftSetting] = []
#endif

// Hot loops run on raw buffers; dynamic exclusivity checks on class storage
// cost up to 60x there, so the library is built without them.
let librarySettings: [SwiftSetting] =
    simdDefines + [
        .unsafeFlags(simdFlags + ["-enforce-exclusivity=unchecked"])
    ]
let toolSettings: [SwiftSetting] = simdDefines + [.unsafeFlags(simdFlags)]

// scripts/fuzz builds a libFuzzer target for the checkpoint reader. It exists
// only when CHARRNN_FUZZ=1, so ordinary builds and tests never see it or
// -sanitize=fuzzer (whose runtime supplies main, hence -parse-as-library).
let fuzzing = ProcessInfo.processInfo.environment["CHARRNN_FUZZ"] == "1"
let fuzzTargets: [Target] =
    fuzzing
    ? [
        .executableTarget(
            name: "charrnn-fuzz-checkpoint",
            dependencies: ["CharRNN", "CharRNNTestSupport"],
            path: "Sources/charrnn-fuzz-checkpoint",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    ] : []
let fuzzProducts: [Product] =
    fuzzing
    ? [.executable(name: "charrnn-fuzz-checkpoint", targets: ["charrnn-fuzz-checkpoint"])] : []

let tools = [
    "charrnn-vocab", "charrnn-init", "charrnn-inspect", "charrnn-epoch", "charrnn-sample", "charrnn-convert",
    "charrnn-serve",
]

let package = Package(
    name: "charrnn",
    platforms: [.macOS(.v15)],
    products: [.library(name: "CharRNN", targets: ["CharRNN"])]
        + tools.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "CCharRNNSupport",
            path: "Sources/CCharRNNSupport"
        ),
        .target(
            name: "CharRNN",
            dependencies: ["CZlib", "CCharRNNSupport"],
            path: "Sources/CharRNN",
            swiftSettings: librarySettings
        ),
        // What the tests, the benchmark and the fuzz target share and the tools
        // never need: the naive reference network and kernels, and checkpoint
        // sealing. Only the public API of CharRNN is used here.
        .target(
            name: "CharRNNTestSupport",
            dependencies: ["CharRNN"],
            path: "Sources/CharRNNTestSupport",
            swiftSettings: toolSettings
        ),
        .target(
            name: "CharRNNCLI",
            dependencies: [
                "CharRNN", "CCharRNNSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/CharRNNCLI",
            swiftSettings: toolSettings
        ),
    ]
        + tools.map {
            .executableTarget(
                name: $0,
                dependencies: [
                    "CharRNN", "CharRNNCLI",
                    .product(name: "ArgumentParser", package: "swift-argument-parser"),
                ],
                path: "Sources/\($0)",
                swiftSettings: toolSettings
            )
        } + [
            // The kernel benchmark (GEMM shapes, FMA peak); scripts/bench runs it.
            .executableTarget(
                name: "charrnn-bench",
                dependencies: ["CharRNN", "CharRNNTestSupport"],
                path: "Sources/charrnn-bench",
                swiftSettings: toolSettings
            ),
            .testTarget(
                name: "CharRNNTests",
                dependencies: ["CharRNN", "CharRNNTestSupport"],
                path: "Tests/CharRNNTests",
                exclude: ["Fixtures"],
                swiftSettings: toolSettings
            ),
            .testTarget(
                name: "CLITests",
                dependencies: ["CharRNN"] + tools.map { .target(name: $0) },
                path: "Tests/CLITests",
                swiftSettings: toolSettings
            ),
        ]
)
package.products += fuzzProducts
package.targets += fuzzTargets
