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
            dependencies: [.product(name: "Variational", package: "Variational")],
            path: "Sources/VariationalBenchmarks"
        )
    ],
    swiftLanguageModes: [.v5]
)
