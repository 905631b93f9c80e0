import FITSIO
import Layers
import Foundation
import Network
import Tensors
import Testing

/// The deblend options a model file can record or a user can give (attribution, precision, input
/// ceiling, peak threshold, residual peaks, repeated owners, slots): each chosen, recorded in the
/// headers, and refused by name when wrong. Part of the serialized `DeblendCLITests` suite.
extension DeblendCLITests {
    /// `--attribution`: symmetric by default, network on request, recorded in the headers; the
    /// detections are the same, the split of shared pixels is not; a wrong value is refused by name.
    /// `--residual-peaks` likewise.
    @Test func attributionAndResidualPeaksAreChosenAndRecorded() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        func deblend(_ extra: [String], into name: String) throws -> PaisRun {
            try runPais(["deblend", f.field, "--model", f.weights, "--preset", "tiny", "--tile", "32", "--output", f.directory + "/" + name] + extra)
        }
        let symmetric = try deblend([], into: "symmetric"), network = try deblend(["--attribution", "network"], into: "network")
        #expect(symmetric.status == 0 && network.status == 0, "\(symmetric.standardError)\(network.standardError)")
        #expect(try FITSFile.open(f.directory + "/symmetric/sources.fits").readKey("PAISATTR") == .string("symmetric"))
        #expect(try FITSFile.open(f.directory + "/network/catalog.fits").readKey("PAISATTR") == .string("network"))
        #expect(try FITSFile.open(f.directory + "/symmetric/catalog.fits").readKey("PAISSFLR") == .double(0.01))
        #expect(try FITSFile.open(f.directory + "/network/catalog.fits").readKey("PAISSFLR") == .double(0))
        let a = try FITSTable.read(from: f.directory + "/symmetric/catalog.csv"), b = try FITSTable.read(from: f.directory + "/network/catalog.csv")
        #expect(try a.doubles("x", source: "a") == b.doubles("x", source: "b") && a.doubles("y", source: "a") == b.doubles("y", source: "b"))
        #expect(try a.doubles("flux", source: "a") != b.doubles("flux", source: "b"))
        // --residual-peaks: recorded, a catalog column, and refused when it cannot work.
        let residual = try deblend(["--residual-peaks", "8"], into: "residual")
        #expect(residual.status == 0, "\(residual.standardError)")
        #expect(try FITSFile.open(f.directory + "/residual/catalog.fits").readKey("PAISRESP") == .double(8))
        #expect(try FITSTable.read(from: f.directory + "/residual/catalog.csv")["residual"] != nil)
        let off = try deblend(["--residual-peaks", "0"], into: "off")
        #expect(off.status == 0 && off.standardOutput.contains("detection: heatmap peaks above 0.1 (the method's; the model records none)\n"),
                "\(off.standardOutput)\(off.standardError)")
        #expect(try FITSFile.open(f.directory + "/off/catalog.fits").readKey("PAISRESP") == .double(0))
        for (bad, message) in [(["--residual-peaks", "nan"], "--residual-peaks must be a positive number of sigma, or 0 for no second pass, got nan"),
                               (["--residual-peaks", "8", "--centres", f.field + ".catalog.csv"], "--residual-peaks adds detections, --centres fixes them")] {
            let run = try deblend(bad, into: "bad")
            #expect(run.status != 0 && run.standardError.contains(message), "\(run.standardError)")
            #expect(!FileManager.default.fileExists(atPath: f.directory + "/bad"))
        }
        let wrong = try deblend(["--attribution", "sym"], into: "wrong")
        #expect(wrong.status != 0 && wrong.standardError.contains("--attribution must be network or symmetric, got 'sym'"), "\(wrong.standardError)")
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/wrong"))
    }

    /// `--precision`: the header says which arithmetic ran; auto is bfloat16 exactly where the CPU
    /// runs it faster (AMD with AVX-512 BF16), and bfloat16 without AVX-512 BF16 is refused by name.
    @Test func precisionIsChosenAndRecorded() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        func deblend(_ precision: String) throws -> (run: PaisRun, recorded: HeaderValue?) {
            let out = f.directory + "/\(precision)"
            let run = try runPais(["deblend", f.field, "--model", f.weights, "--preset", "tiny", "--tile", "32",
                                   "--precision", precision, "--output", out])
            let recorded = run.status == 0 ? try FITSFile.open(out + "/heatmap.fits").readKey("PAISPREC") : nil
            return (run, recorded)
        }
        let single = try deblend("float32")
        #expect(single.run.status == 0 && single.recorded == .string("float32"), "\(single.run.standardError)")
        #expect(single.run.standardOutput.contains("margin 4, float32, symmetric attribution)"))
        let auto = try deblend("auto"), half = try deblend("bfloat16")
        #expect(auto.recorded == .string(ConvPrecision.fastest.rawValue))
        if ConvPrecision.bfloat16Available {
            #expect(half.recorded == .string("bfloat16"), "\(half.run.standardError)")
        } else {
            #expect(auto.recorded == .string("float32"))
            #expect(half.run.status != 0 && half.run.standardError.contains("--precision bfloat16 needs a CPU with AVX-512 BF16"))
            #expect(!FileManager.default.fileExists(atPath: f.directory + "/bfloat16"))
        }
    }

    /// `--input-ceiling`: auto takes the model file's recorded ceiling (none recorded: none), a
    /// value overrides it; the header records what ran; a bad value or record is refused by name.
    @Test func inputCeilingIsChosenAndRecorded() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        try Self.writeFixtureModel(recording: "pais_input_ceiling", [("ceiling", "3.5"), ("broken", "bright")], in: f.directory)
        func deblend(_ weights: String, _ extra: [String], into name: String) throws -> (run: PaisRun, recorded: HeaderValue?) {
            try Self.deblendFixture(f, weights: weights, extra, into: name, readingHeader: "PAISCEIL")
        }
        let none = try deblend(f.weights, [], into: "none")
        #expect(none.recorded == .double(0) && none.run.standardOutput.contains("input ceiling: none (the model records none (pais_input_ceiling))"),
                "\(none.run.standardOutput)\(none.run.standardError)")
        let fromModel = try deblend(f.directory + "/ceiling.safetensors", [], into: "model")
        #expect(fromModel.recorded == .double(3.5) && fromModel.run.standardOutput.contains("input ceiling: 3.5 e-/s in the model's units (the model's pais_input_ceiling)"),
                "\(fromModel.run.standardOutput)\(fromModel.run.standardError)")
        let given = try deblend(f.directory + "/ceiling.safetensors", ["--input-ceiling", "2"], into: "given")
        #expect(given.recorded == .double(2))
        let off = try deblend(f.directory + "/ceiling.safetensors", ["--input-ceiling", "off"], into: "off")
        #expect(off.recorded == .double(0))
        for (weights, extra, message) in [(f.weights, ["--input-ceiling", "0"], "--input-ceiling must be auto, off or a positive number"),
                                          (f.directory + "/broken.safetensors", [], "pais_input_ceiling = \"bright\" is not a positive number")] {
            let bad = try deblend(weights, extra, into: "bad")
            #expect(bad.run.status != 0 && bad.run.standardError.contains(message), "\(bad.run.standardError)")
            #expect(!FileManager.default.fileExists(atPath: f.directory + "/bad"))
        }
    }

    /// The NMS threshold: `--peak-threshold` when given, else the model file's recorded
    /// `pais_peak_threshold`, else the method's 0.1; the header records what ran, `pais evaluate`
    /// deblends with the same, and a bad value or record is refused by name with no output.
    @Test func peakThresholdIsChosenAndRecorded() throws {
        let f = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: f.directory) }
        try Self.writeFixtureModel(recording: "pais_peak_threshold", [("strict", "0.6"), ("broken", "1.5")], in: f.directory)
        func deblend(_ weights: String, _ extra: [String], into name: String) throws -> (run: PaisRun, recorded: HeaderValue?, sources: Int) {
            let (run, recorded) = try Self.deblendFixture(f, weights: weights, extra, into: name, readingHeader: "PAISNMS")
            return (run, recorded, run.status == 0 ? try FITSTable.read(from: f.directory + "/\(name)/catalog.csv").rowCount : 0)
        }
        let plain = try deblend(f.weights, [], into: "plain")
        #expect(plain.recorded == .double(Double(Float(0.1))) && plain.run.standardOutput.contains("detection: heatmap peaks above 0.1 (the method's; the model records none)"),
                "\(plain.run.standardOutput)\(plain.run.standardError)")
        let strict = try deblend(f.directory + "/strict.safetensors", [], into: "strict")
        #expect(strict.recorded == .double(Double(Float(0.6))) && strict.run.standardOutput.contains("above 0.6 (the model's pais_peak_threshold)"),
                "\(strict.run.standardOutput)\(strict.run.standardError)")
        let given = try deblend(f.directory + "/strict.safetensors", ["--peak-threshold", "0.1"], into: "given")
        #expect(given.recorded == plain.recorded && given.sources == plain.sources)
        #expect(strict.sources < plain.sources, "the recorded threshold changed nothing: \(strict.sources) and \(plain.sources) sources")
        // pais evaluate, deblending in its own process, takes the model's threshold too.
        let evaluated = try runPais(["evaluate", "--truth", f.field, "--model", f.directory + "/strict.safetensors", "--preset", "tiny",
                                     "--tile", "32", "--no-plots"])
        #expect(evaluated.status == 0 && evaluated.standardError.contains(": \(strict.sources) sources"), "\(evaluated.standardError)")
        for (weights, extra, message) in [(f.weights, ["--peak-threshold", "1"], "--peak-threshold must be in (0, 1), got 1.0"),
                                          (f.directory + "/broken.safetensors", [], "pais_peak_threshold = \"1.5\" is not a number in (0, 1)")] {
            let bad = try deblend(weights, extra, into: "bad")
            #expect(bad.run.status != 0 && bad.run.standardError.contains(message), "\(bad.run.standardError)")
            #expect(!FileManager.default.fileExists(atPath: f.directory + "/bad"))
        }
    }

    /// A 128² simulated field (seed 11) in `directory`, and the shipped default model with its
    /// tensors and metadata, from which a test writes the model with other decoding records.
    static func smallFieldAndShippedModel(in directory: String) throws
        -> (field: String, shipped: URL, entries: [Safetensors.Entry], metadata: [String: String]) {
        let field = directory + "/field.fits"
        let sim = try runPais(["simulate", "--height", "128", "--width", "128", "--seed", "11", "--output", field])
        #expect(sim.status == 0, "\(sim.standardError)")
        let shipped = URL(fileURLWithPath: shippedModels + "/pais-small-sim.safetensors")
        let entries = try Safetensors.read(from: shipped).values.sorted { $0.name < $1.name }
        return (field, shipped, entries, try Safetensors.readMetadata(from: shipped))
    }

    /// The residual pass: `--residual-peaks` when given (0: none), else the model file's recorded
    /// `pais_residual_peaks` (the completeness-first file's), else none. The header and banner say
    /// what ran, the recorded pass finds what the same option finds, `pais evaluate` takes it too,
    /// forced centres ignore it, a bad record is refused by name with no output, and the shipped
    /// completeness-first file is found by its name. The shipped default model runs on a small
    /// simulated field where the pass finds a source the heatmap merges (a random model's heatmap
    /// finds everything or nothing).
    @Test func residualPeaksComeFromTheModelUnlessGiven() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (field, shipped, entries, recordedMetadata) = try Self.smallFieldAndShippedModel(in: directory)
        var metadata = recordedMetadata
        #expect(metadata["pais_residual_peaks"] == nil, "the shipped default model must not run the residual pass")
        let complete = directory + "/complete.safetensors", broken = directory + "/broken.safetensors"
        metadata["pais_residual_peaks"] = "3"
        try Safetensors.write(entries, to: URL(fileURLWithPath: complete), metadata: metadata)
        metadata["pais_residual_peaks"] = "-2"
        try Safetensors.write(entries, to: URL(fileURLWithPath: broken), metadata: metadata)
        let centres = directory + "/centres.csv"
        try "x,y\n40,40\n90,70\n".write(toFile: centres, atomically: true, encoding: .utf8)
        func deblend(_ weights: URL, _ extra: [String], into name: String) throws -> (run: PaisRun, recorded: HeaderValue?, catalog: String) {
            let out = directory + "/" + name
            let run = try runPais(["deblend", field, "--model", weights.path, "--no-stamps", "--output", out] + extra)
            guard run.status == 0 else { return (run, nil, "") }
            return (run, try FITSFile.open(out + "/catalog.fits").readKey("PAISRESP"), try String(contentsOfFile: out + "/catalog.csv", encoding: .utf8))
        }
        let recorded = try deblend(URL(fileURLWithPath: complete), [], into: "recorded")
        #expect(recorded.recorded == .double(3) && recorded.run.standardOutput.contains("and residual peaks above 3 sigma (the model's pais_residual_peaks)"),
                "\(recorded.run.standardOutput)\(recorded.run.standardError)")
        let given = try deblend(shipped, ["--residual-peaks", "3"], into: "given")
        #expect(given.recorded == .double(3) && given.catalog == recorded.catalog)
        let off = try deblend(URL(fileURLWithPath: complete), ["--residual-peaks", "0"], into: "off"), plain = try deblend(shipped, [], into: "plain")
        #expect(off.recorded == .double(0) && plain.recorded == .double(0) && off.catalog == plain.catalog)
        #expect(!plain.run.standardOutput.contains("residual peaks above"))
        // The field must show the pass at work, or the comparisons above prove nothing.
        let lines = recorded.catalog.split(separator: "\n"), column = try #require(lines.first?.split(separator: ",").firstIndex(of: "residual"))
        let residualRows = lines.dropFirst().filter { $0.split(separator: ",", omittingEmptySubsequences: false)[column] == "true" }.count
        #expect(residualRows > 0 && recorded.catalog != plain.catalog, "the recorded pass found nothing: \(recorded.run.standardOutput)")
        let forced = try deblend(URL(fileURLWithPath: complete), ["--centres", centres], into: "forced")
        #expect(forced.run.status == 0 && forced.recorded == .double(0), "\(forced.run.standardError)")
        let evaluated = try runPais(["evaluate", "--truth", field, "--model", complete, "--no-plots"])
        let sources = recorded.catalog.split(separator: "\n").count - 1
        #expect(evaluated.status == 0 && evaluated.standardError.contains(": \(sources) sources"), "\(evaluated.standardError)")
        // The shipped completeness-first file records 4.5 σ and is found by its bare name.
        let named = try runPais(["deblend", field, "--model", "pais-small-sim-complete.safetensors", "--no-stamps", "--output", directory + "/named"])
        #expect(named.status == 0 && named.standardOutput.contains("/pais-small-sim-complete.safetensors (small,")
                && named.standardOutput.contains("and residual peaks above 4.5 sigma (the model's pais_residual_peaks)"),
                "\(named.standardOutput)\(named.standardError)")
        let bad = try deblend(URL(fileURLWithPath: broken), [], into: "bad")
        #expect(bad.run.status != 0 && bad.run.standardError.contains("pais_residual_peaks = \"-2\" is not a positive number of sigma"),
                "\(bad.run.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/bad"))
    }

    /// Filling repeated owners is the model file's choice (`pais_repeated_owners`), as the residual
    /// pass is: the shipped default records fill, `--repeated-owners` overrides it both ways, the
    /// network's attribution cannot fill, and a bad record is refused with no output.
    @Test func repeatedOwnersComeFromTheModelUnlessGiven() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (field, shipped, entries, recordedMetadata) = try Self.smallFieldAndShippedModel(in: directory)
        var metadata = recordedMetadata
        #expect(metadata["pais_repeated_owners"] == "fill", "the shipped default model was judged with filling")
        let unrecorded = directory + "/unrecorded.safetensors", broken = directory + "/broken.safetensors"
        metadata["pais_repeated_owners"] = nil
        try Safetensors.write(entries, to: URL(fileURLWithPath: unrecorded), metadata: metadata)
        metadata["pais_repeated_owners"] = "sometimes"
        try Safetensors.write(entries, to: URL(fileURLWithPath: broken), metadata: metadata)
        func deblend(_ weights: String, _ extra: [String], into name: String) throws -> (run: PaisRun, recorded: HeaderValue?, catalog: String) {
            let out = directory + "/" + name
            let run = try runPais(["deblend", field, "--model", weights, "--no-stamps", "--output", out] + extra)
            guard run.status == 0 else { return (run, nil, "") }
            return (run, try FITSFile.open(out + "/catalog.fits").readKey("PAISFILL"), try String(contentsOfFile: out + "/catalog.csv", encoding: .utf8))
        }
        let recorded = try deblend(shipped.path, [], into: "recorded")
        #expect(recorded.recorded == .string("fill")
                && recorded.run.standardOutput.contains("attribution: symmetric, repeated owners filled (the model's pais_repeated_owners)"),
                "\(recorded.run.standardOutput)\(recorded.run.standardError)")
        let given = try deblend(unrecorded, ["--repeated-owners", "fill"], into: "given")
        #expect(given.recorded == .string("fill") && given.catalog == recorded.catalog)
        let kept = try deblend(shipped.path, ["--repeated-owners", "keep"], into: "kept"), plain = try deblend(unrecorded, [], into: "plain")
        #expect(kept.recorded == .string("keep") && plain.recorded == .string("keep") && kept.catalog == plain.catalog)
        #expect(!plain.run.standardOutput.contains("repeated owners filled"))
        // Filling must change this field's fluxes, or the comparisons above prove nothing; the
        // detections stay.
        func positions(_ catalog: String) -> [Substring] { catalog.split(separator: "\n").map { $0.split(separator: ",").prefix(3).joined(separator: ",")[...] } }
        #expect(recorded.catalog != kept.catalog && positions(recorded.catalog) == positions(kept.catalog))
        let network = try deblend(shipped.path, ["--repeated-owners", "fill", "--attribution", "network"], into: "network")
        #expect(network.run.status != 0 && network.run.standardError.contains("--repeated-owners fill needs --attribution symmetric"))
        let networkRecorded = try deblend(shipped.path, ["--attribution", "network"], into: "network-recorded")
        #expect(networkRecorded.run.status == 0 && networkRecorded.recorded == .string("keep"), "\(networkRecorded.run.standardError)")
        // `pais evaluate` deblends with the model's choice too.
        func evaluated(_ extra: [String], into name: String) throws -> String {
            let out = directory + "/" + name
            let run = try runPais(["evaluate", "--truth", field, "--model", shipped.path, "--no-plots", "--output", out] + extra)
            #expect(run.status == 0, "\(run.standardError)")
            return (try? String(contentsOfFile: out + "/matches.csv", encoding: .utf8)) ?? ""
        }
        let byModel = try evaluated([], into: "eval-model")
        #expect(byModel == (try evaluated(["--repeated-owners", "fill"], into: "eval-fill")))
        #expect(byModel != (try evaluated(["--repeated-owners", "keep"], into: "eval-keep")))
        let bad = try deblend(broken, [], into: "bad")
        #expect(bad.run.status != 0 && bad.run.standardError.contains("pais_repeated_owners = \"sometimes\" is not fill or keep"),
                "\(bad.run.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/bad"))
        let word = try deblend(shipped.path, ["--repeated-owners", "always"], into: "word")
        #expect(word.run.status != 0 && word.run.standardError.contains("--repeated-owners must be fill or keep, got 'always'"))
    }

    /// A model with more slots than the method's 3 (`pais_slots`): the shipped file widened to 5
    /// slots whose two new ones copy the third, its map logit lowered by ln 3 for all three
    /// (`tools/extend-slots.py`'s recipe), splits every pixel among the same sources in the same
    /// shares, so with the network's own shares its catalog matches the 3-slot file's to float
    /// rounding: the decoder's slots are n-generic. (The symmetric attribution's stray test asks
    /// for the n nearest sources, which differ with n.) Filling then hands the copies to further
    /// sources and changes the fluxes. A record that contradicts the tensors, or is not a whole
    /// number, is refused by name with no output.
    @Test func modelsWithMoreSlotsDeblend() throws {
        let directory = try makeScratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (field, shipped, entries, recordedMetadata) = try Self.smallFieldAndShippedModel(in: directory)
        let widened = entries.map { entry -> Safetensors.Entry in
            switch entry.name {
            case "cv_conv1/kernel", "cm_conv1/kernel":    // [1, 1, 32, c]: the last slot's channels appended twice
                let per = entry.name.hasPrefix("cv") ? 2 : 1, c = entry.shape[3]
                var values: [Float] = []
                for row in 0..<(entry.values.count / c) {
                    let channels = entry.values[(row * c)..<((row + 1) * c)]
                    values += channels + channels.suffix(per) + channels.suffix(per)
                }
                return Safetensors.Entry(name: entry.name, shape: [1, 1, entry.shape[2], c + 2 * per], values: values)
            case "cv_conv1/bias":
                return Safetensors.Entry(name: entry.name, shape: [10], values: entry.values + entry.values.suffix(2) + entry.values.suffix(2))
            case "cm_conv1/bias":
                let lowered = entry.values[2] - Float(log(3.0))
                return Safetensors.Entry(name: entry.name, shape: [5], values: Array(entry.values.prefix(2)) + [lowered, lowered, lowered])
            default:
                return entry
            }
        }
        var metadata = recordedMetadata
        metadata["pais_slots"] = "5"
        let five = directory + "/five.safetensors", contradicting = directory + "/contradicting.safetensors"
        try Safetensors.write(widened, to: URL(fileURLWithPath: five), metadata: metadata)
        try Safetensors.write(entries, to: URL(fileURLWithPath: contradicting), metadata: metadata)
        func deblend(_ weights: String, _ extra: [String], into name: String) throws -> (run: PaisRun, fluxes: [Double]) {
            let out = directory + "/" + name
            let run = try runPais(["deblend", field, "--model", weights, "--no-stamps", "--output", out] + extra)
            guard run.status == 0 else { return (run, []) }
            let rows = try String(contentsOfFile: out + "/catalog.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            return (run, rows.map { Double($0.split(separator: ",")[7])! })      // the flux column
        }
        let three = try deblend(shipped.path, ["--attribution", "network"], into: "three")
        let kept = try deblend(five, ["--attribution", "network"], into: "five-kept")
        #expect(kept.run.status == 0 && kept.run.standardOutput.contains("(small, 5 slots, tile"), "\(kept.run.standardError)")
        #expect(three.fluxes.count > 5 && kept.fluxes.count == three.fluxes.count)
        let worst = zip(kept.fluxes, three.fluxes).map { abs($0 - $1) / max(abs($1), 1e-3) }.max() ?? .infinity
        #expect(worst < 1e-3, "largest relative flux difference \(worst)")
        let symmetric = try deblend(five, ["--repeated-owners", "keep"], into: "five-symmetric")
        let filled = try deblend(five, ["--repeated-owners", "fill"], into: "five-filled")
        #expect(filled.run.status == 0 && filled.fluxes.count == three.fluxes.count && filled.fluxes != symmetric.fluxes)
        let refused = try deblend(contradicting, [], into: "refused")
        #expect(refused.run.status != 0 && refused.run.standardError.contains("contradicting.safetensors"), "\(refused.run.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/refused"))
        metadata["pais_slots"] = "4.5"
        let fractional = directory + "/fractional.safetensors"
        try Safetensors.write(entries, to: URL(fileURLWithPath: fractional), metadata: metadata)
        let bad = try deblend(fractional, [], into: "bad")
        #expect(bad.run.status != 0 && bad.run.standardError.contains("pais_slots = \"4.5\" is not a whole number of slots"),
                "\(bad.run.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/bad"))
    }
}
