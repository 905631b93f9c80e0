import Foundation

/// Completeness plots through gnuplot (PNG); skipped with a message when gnuplot is missing.
public enum CompletenessPlots {
    /// Writes `completeness_magnitude.png` and `completeness_blendedness.png` into `directory`
    /// for one or more reports (one curve each). Returns the files written, or a warning.
    public static func write(_ reports: [EvaluationReport], to directory: String, gnuplot: String = "gnuplot") -> Result<[String], EvaluationError> {
        guard let executable = findExecutable(gnuplot) else {
            return .failure(EvaluationError("gnuplot not found on PATH; plots skipped"))
        }
        var written: [String] = []
        let plots: [(String, String, (EvaluationReport) -> [(Double, Double)])] = [
            ("completeness_magnitude.png", "true H (AB mag)", { r in
                r.completenessByMagnitude.filter { $0.all > 0 }.map { (($0.low + $0.high) / 2, $0.completeness) } }),
            ("completeness_blendedness.png", "blendedness bin (0: <0.01, 1: 0.01-0.1, 2: 0.1-0.5, 3: >=0.5)", { r in
                r.recallByBlendedness.enumerated().filter { $0.element.detectable > 0 }.map { (Double($0.offset), $0.element.recall) } }),
        ]
        for (name, xlabel, series) in plots {
            var script = "set terminal pngcairo size 800,500\nset output '\(directory)/\(name)'\n"
            script += "set xlabel '\(xlabel)'\nset ylabel '\(name.contains("magnitude") ? "completeness (all truths)" : "recall (detectable truths)")'\n"
            script += "set yrange [0:1.05]\nset grid\nset key bottom left\n"
            script += "plot " + reports.indices.map { "'-' using 1:2 with linespoints title '\(reports[$0].method)'" }.joined(separator: ", ") + "\n"
            for r in reports {
                for (x, y) in series(r) where y.isFinite { script += "\(x) \(y)\n" }
                script += "e\n"
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            let input = Pipe()
            process.standardInput = input
            process.standardError = FileHandle.nullDevice
            do { try process.run() } catch { return .failure(EvaluationError("could not run gnuplot: \(error)")) }
            input.fileHandleForWriting.write(Data(script.utf8))
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                return .failure(EvaluationError("gnuplot failed (exit \(process.terminationStatus)) writing \(name); is the pngcairo terminal available?"))
            }
            written.append(directory + "/" + name)
        }
        return .success(written)
    }

    static func findExecutable(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}
