import ArgumentParser
import Datasets
import PCR

extension SlotRule: ExpressibleByArgument {}

/// How the dataset builders label their crops, beyond n: the centre heatmap's width and which
/// sources hold a pixel's slots. The method's σ is 8 px (method.md §3.3); a narrower one deepens
/// the valley between two sources a few pixels apart (5 % of the peak at 5 px with σ = 8, 29 % with
/// σ = 3), which a squared-error loss otherwise smooths away.
struct LabelOptions: ParsableArguments {
    @Option(help: "Heatmap Gaussian sigma in px (the method's: 8; at most the label window's 25).")
    var heatmapSigma: Double = 8

    @Option(help: "Which sources hold a pixel's slots: nearest (the method's: the n nearest centres) or brightest (the n with the most light there).")
    var slotRule: SlotRule = .nearest

    func validate() throws {
        guard heatmapSigma.isFinite, heatmapSigma > 0, heatmapSigma <= 25 else {
            throw ValidationError("--heatmap-sigma must be in (0, 25] px (the heatmap window's radius), got \(heatmapSigma)")
        }
    }

    func apply(to writer: inout DatasetWriter) {
        writer.encoder.sigma = heatmapSigma
        writer.encoder.slotRule = slotRule
    }
}
