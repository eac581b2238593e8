import CCoreDistance
import Foundation

/// How far apart the machine's first two cores are (`core_distance`): a cache line passed back and forth between a
/// thread on core 0 and one on core 1, and core 1 reading 8 MB that core 0 has just written, beside core 0 reading its
/// own. On this project's VM the two are at times on different dies of the host: the round trip goes from about 55 ns
/// to 330–400 and the VAE step from 2.4 to 4.4 ms. Run it beside a measurement to know which state the machine was in.
enum CoreDistanceBenchmark {
    static func run() {
        var (roundTrip, local, remote) = (0.0, 0.0, 0.0)
        guard core_distance(&roundTrip, &local, &remote) == 0 else {
            print("cores: the threads could not be pinned to cores 0 and 1")
            return
        }
        print("Cores 0 and 1: a cache line's round trip between them, and 8 MB read after the other core wrote it")
        print(String(format: "  round trip  %5.0f ns   (about 55 when they share a die, 330–400 when they do not)", roundTrip))
        print(String(format: "  core 0 reads the 8 MB it wrote   %5.0f µs", local))
        print(String(format: "  core 1 reads the 8 MB core 0 wrote %5.0f µs", remote))
    }
}
