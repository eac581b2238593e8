// swift-tools-version:6.0
import PackageDescription

// The targets form a ladder: kernels → core (Tensor, autodiff, randomness) → data files, bijectors,
// distributions, optimisers, neural layers → inference → the umbrella `Variational` → the `elbo` tool. A lower target never imports a higher one.
let package = Package(
    name: "Variational",
    products: [
        .library(name: "Variational", targets: ["Variational"]),
        .executable(name: "elbo", targets: ["elbo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        // `swift package generate-documentation --target VariationalInference` builds the DocC catalogue.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .target(
            name: "CVariationalKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])],
            linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("m"), .linkedLibrary("mvec")]
        ),
        .target(
            name: "VariationalCore",
            dependencies: [
                "CVariationalKernels",
                .product(name: "RealModule", package: "swift-numerics"),
            ]
        ),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "VariationalData", dependencies: ["VariationalCore", "CZlib"]),
        .target(name: "VariationalBijectors", dependencies: ["VariationalCore"]),
        .target(name: "VariationalDistributions", dependencies: ["VariationalCore", "VariationalBijectors"]),
        .target(name: "VariationalOptimizers", dependencies: ["VariationalCore"]),
        .target(name: "VariationalNeural", dependencies: ["VariationalCore"]),
        .target(
            name: "VariationalInference",
            dependencies: [
                "VariationalCore", "VariationalBijectors", "VariationalDistributions", "VariationalOptimizers",
                "VariationalNeural", "VariationalData", "CVariationalKernels",
            ]
        ),
        .target(
            name: "Variational",
            dependencies: [
                "VariationalCore", "VariationalBijectors", "VariationalDistributions", "VariationalOptimizers",
                "VariationalNeural", "VariationalData", "VariationalInference",
            ]
        ),
        .executableTarget(
            name: "elbo",
            dependencies: [
                "Variational",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "eight-schools-example", dependencies: ["Variational"], path: "Examples/EightSchools"),
        .executableTarget(name: "poisson-regression-example", dependencies: ["Variational"], path: "Examples/PoissonRegression"),
        .executableTarget(name: "robust-regression-example", dependencies: ["Variational"], path: "Examples/RobustRegression"),
        // Triggers each error a user's code can cause in the library, for the tests of their messages (in release too).
        .executableTarget(name: "usage-errors", dependencies: ["Variational"], path: "Tests/UsageErrors"),
        .target(
            name: "VariationalTestSupport",
            dependencies: ["VariationalCore", "VariationalBijectors", "VariationalDistributions"]
        ),
        .testTarget(
            name: "VariationalCoreTests",
            dependencies: ["VariationalCore", "VariationalTestSupport"]
        ),
        .testTarget(
            name: "VariationalOptimizersTests",
            dependencies: ["VariationalOptimizers", "VariationalNeural", "VariationalTestSupport"]
        ),
        .testTarget(
            name: "VariationalDistributionsTests",
            dependencies: ["VariationalDistributions", "VariationalBijectors", "VariationalTestSupport"],
            exclude: ["Reference"]  // the scripts that generated the reference values, and extreme_values.txt (read by path)
        ),
        .testTarget(
            name: "VariationalInferenceTests",
            dependencies: ["VariationalInference", "VariationalNeural", "VariationalOptimizers", "VariationalTestSupport"],
            exclude: ["Reference"]  // the ArviZ script and the log weights it wrote (read by path)
        ),
        .testTarget(name: "VariationalDataTests", dependencies: ["VariationalData"]),
        .testTarget(
            name: "ElboToolTests",
            dependencies: ["elbo", "eight-schools-example", "poisson-regression-example", "robust-regression-example", "usage-errors"],
            exclude: ["Reference"]  // posterior means and sds of long NUTS runs (read by path)
        ),
    ],
    swiftLanguageModes: [.v5]
)
