import Foundation
import Testing

/// Progress on stderr: in a log (here a pipe, as Slurm's output file) a line per tenth of the
/// work; on a terminal (here `script`'s pseudo-terminal) one line rewritten in place.
@Suite("progress in logs and on terminals", .serialized)
struct ProgressCLITests {
    @Test func aLogGetsTenLinesATerminalOneRewrittenLine() throws {
        let f = try DeblendCLITests.fixture()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        let field = f.directory + "/wide.fits"
        let sim = try runPais(["simulate", "--height", "64", "--width", "400", "--psf-size", "31", "--seed", "4", "--output", field])
        #expect(sim.status == 0, "\(sim.standardError)")
        let deblend = ["deblend", field, "--model", f.weights, "--preset", "tiny", "--tile", "32", "--margin", "4", "--no-stamps"]

        let logged = try runPais(deblend + ["--output", f.directory + "/logged"])
        #expect(logged.status == 0, "\(logged.standardError)")
        #expect(!logged.standardError.contains("\r"))
        let lines = logged.standardError.split(separator: "\n").filter { $0.hasPrefix("tiles ") }
        // 3 x 17 = 51 tiles: a line at each tenth passed (tiles finish a few at a time, so on
        // many cores one may be skipped), the first at the start, the last at 51/51.
        let percents = lines.compactMap { $0.split(separator: "(").last?.split(separator: " ").first.flatMap { Int($0) } }
        #expect((6...11).contains(lines.count) && percents.count == lines.count, "\(logged.standardError)")
        #expect(zip(percents, percents.dropFirst()).allSatisfy { $0 < $1 } && percents.allSatisfy { $0 % 10 == 0 }, "\(lines)")
        #expect(lines.last?.hasPrefix("tiles 51/51 (100 %) after ") == true, "\(lines)")

        // `script -q -e -c COMMAND /dev/null`: the command's stderr is a terminal; the run's own
        // output comes back through script's stdout.
        let command = ([paisExecutable.path] + deblend + ["--output", f.directory + "/terminal"]).joined(separator: " ")
        let terminal = try runPais(["-q", "-e", "-c", command, "/dev/null"], executable: URL(fileURLWithPath: "/usr/bin/script"))
        #expect(terminal.status == 0, "\(terminal.standardOutput)\(terminal.standardError)")
        #expect(terminal.standardOutput.contains("\rtiles 51/51"), "\(terminal.standardOutput)")
        #expect(!terminal.standardOutput.contains("%) after"), "\(terminal.standardOutput)")
    }

    @Test func datasetCommandsLogTenthsPerSplit() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let built = try runPais(["simulate-dataset", "--output", directory + "/ds", "--sample-size", "32", "--train", "40", "--test", "20",
                                 "--psf-size", "31"])
        #expect(built.status == 0, "\(built.standardError)")
        #expect(!built.standardError.contains("\r"))
        let lines = built.standardError.split(separator: "\n")
        for (split, total) in [("train", 40), ("test", 20)] {
            let mine = lines.filter { $0.hasPrefix("\(split): samples ") }
            #expect((2...11).contains(mine.count) && mine.last?.hasPrefix("\(split): samples \(total)/\(total) (100 %)") == true, "\(built.standardError)")
        }
    }
}
