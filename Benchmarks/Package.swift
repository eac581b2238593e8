// swift-tools-version:6.0
import PackageDescription

// Benchmarks live in their own package so that users of Variational never pull their dependencies.
// Run: swift run -c release --package-path Benchmarks variational-benchmarks
let package = Package(
    name: "VariationalBenchmarks",
    dependencies: [.package(name: "Variational", path: "..")],
    targets: [
        .executableTarget(
            name: "variational-benchmarks",
            dependencies: [.product(name: "Variational", package: "Variational"), "CCoreDistance"],
            path: "Sources/VariationalBenchmarks"
        ),
        // A cache line's round trip between cores 0 and 1 (`variational-benchmarks cores`).
        .target(name: "CCoreDistance", path: "Sources/CCoreDistance"),
    ],
    swiftLanguageModes: [.v5]
)
