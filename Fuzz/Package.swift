// swift-tools-version:6.0
import PackageDescription

// libFuzzer harnesses for the readers users hand files and text to: CSV, NumPy .npy and distribution specifications.
// They live in their own package because they are built with -sanitize=fuzzer; run them with Fuzz/run.sh.
let package = Package(
    name: "VariationalFuzz",
    dependencies: [.package(name: "Variational", path: "..")],
    targets: [
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"]),
        .executableTarget(
            name: "fuzz-csv",
            dependencies: ["FuzzSupport", .product(name: "Variational", package: "Variational")],
            path: "Sources/FuzzCSV"
        ),
        .executableTarget(
            name: "fuzz-npy",
            dependencies: ["FuzzSupport", .product(name: "Variational", package: "Variational")],
            path: "Sources/FuzzNumPy"
        ),
        .executableTarget(
            name: "fuzz-specification",
            dependencies: ["FuzzSupport", .product(name: "Variational", package: "Variational")],
            path: "Sources/FuzzSpecification"
        ),
    ],
    swiftLanguageModes: [.v5]
)
