// swift-tools-version:6.0
// PAIS: Partial-Attribution Instance Segmentation, trained data-parallel over MPI.
//
// Targets point one way: C shims -> one Swift owner each -> libraries -> the `pais` executable.
// Each C module has exactly one Swift importer (see README.md, "Modules").
import PackageDescription

let package = Package(
    name: "PAIS",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pais", targets: ["pais"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // MARK: C shims (not API): a module map and one header each.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CFITSIO", pkgConfig: "cfitsio", providers: [.apt(["libcfitsio-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CWCS", pkgConfig: "wcslib", providers: [.apt(["wcslib-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        // Hand-written AVX2 conv kernels (not a library): optimised in debug builds too, so the
        // tests exercise the same code the benchmarks time.
        .target(name: "CDirectConv", cSettings: [.unsafeFlags(["-O2"])]),

        // MARK: Libraries, in dependency order.
        .target(name: "Checksums", dependencies: ["CCrypto"]),
        .target(name: "FITSIO", dependencies: ["CFITSIO", "CWCS"]),
        .target(name: "Tensors", dependencies: ["COpenBLAS"]),
        .target(name: "Layers", dependencies: ["Tensors", "CDirectConv"]),
        .target(name: "Network", dependencies: ["Tensors", "Layers"]),
        .target(name: "Optimizers", dependencies: ["Tensors"]),
        .target(name: "SkySim", dependencies: ["CFFTW"]),
        .target(name: "PCR", dependencies: []),
        .target(name: "Datasets", dependencies: ["FITSIO", "PCR", "SkySim", "Checksums"]),
        .target(name: "Distributed", dependencies: []),
        .target(name: "DistributedMPI", dependencies: ["Distributed", "CMPI"]),
        .target(name: "Inference", dependencies: ["Tensors", "Layers", "Network", "PCR", "Distributed", "FITSIO", "Datasets"]),
        .target(name: "Evaluation", dependencies: ["PCR", "FITSIO"]),
        .target(name: "Training",
                dependencies: ["Tensors", "Layers", "Network", "Optimizers", "Datasets", "PCR", "Distributed", "Checksums",
                               .product(name: "Yams", package: "Yams")]),

        // MARK: The command-line tool: the only place that picks a communicator.
        .executableTarget(
            name: "pais",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "FITSIO", "Tensors", "Layers", "Network", "Optimizers", "SkySim", "PCR", "Datasets",
                "Distributed", "DistributedMPI", "Training", "Inference", "Evaluation",
            ]),

        // MARK: Tests, one bundle per library.
        .testTarget(name: "FITSIOTests", dependencies: ["FITSIO"], exclude: ["Fixtures"]),
        .testTarget(name: "ChecksumsTests", dependencies: ["Checksums"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "DistributedMPITests", dependencies: ["DistributedMPI"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Distributed", "Datasets", "Tensors", "Network", "Layers"]),
        .testTarget(name: "PaisCLITests", dependencies: ["pais", "Network", "Layers", "Tensors", "FITSIO", "Datasets", "SkySim", "PCR"]),
        // Engine tests (issue 4): shared helpers, then one bundle per engine module.
        .target(name: "TestSupport", dependencies: ["Tensors"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "TestSupport"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Tensors", "TestSupport"]),
        .testTarget(name: "NetworkTests", dependencies: ["Network", "Layers", "Tensors", "Optimizers", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Tensors", "TestSupport"]),
        .testTarget(name: "SkySimTests", dependencies: ["SkySim"]),
        .testTarget(name: "PCRTests", dependencies: ["PCR"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "FITSIO", "PCR", "SkySim"]),
        // Deblending and evaluation (issue 7).
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Datasets", "Distributed", "FITSIO", "PCR", "Tensors"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "PCR", "FITSIO"]),
    ],
    swiftLanguageModes: [.v6]
)
