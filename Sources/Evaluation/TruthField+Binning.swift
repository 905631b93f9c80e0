import FITSIO
import PCR

extension TruthField {
    /// The field on the grid `pais deblend --bin N` deblends: images, stamps and positions binned
    /// as its input was, so a binned deblend is scored against truth in its own pixels. What
    /// describes a source on the sky (magnitude, blendedness) is kept. The flux inside the image
    /// follows the binned model, whose partial edge blocks are scaled up like the image's, and
    /// snr_iso and detectability are those of the binned grid (metrics.md §1 on its pixels), since
    /// the per-pixel noise grows by more than N when neighbours are correlated.
    /// Factor 1 returns the field as it is.
    public func binned(by binning: PixelBinning) -> TruthField {
        guard binning.factor > 1 else { return self }
        let size = binning.binnedSize(height: height, width: width)
        let binnedNoisy = binning.bin(noisy, height: height, width: width)
        let binnedNoiseless = binning.bin(noiseless, height: height, width: width)
        // The noise measured on both grids (the field's own noise, not a model of it): N for white
        // noise, more for noise correlated between neighbours, as a drizzled mosaic's is.
        let noiseGrowth = residualSD(binnedNoisy, binnedNoiseless) / residualSD(noisy, noiseless)
        var field = TruthField(height: size.height, width: size.width, noisy: binnedNoisy, noiseless: binnedNoiseless,
                               sigma: sigma * noiseGrowth, sources: sources.map { binned($0, by: binning, noiseGrowth: noiseGrowth) })
        field.detectionSNR = detectionSNR
        return field
    }

    private func binned(_ source: TruthSource, by binning: PixelBinning, noiseGrowth: Double) -> TruthSource {
        var binnedSource = source
        binnedSource.position = PixelPosition(x: binning.binned(source.position.x), y: binning.binned(source.position.y))
        guard !source.model.pixels.isEmpty else { return binnedSource }
        let inside = source.model.shifted(dy: 0, dx: 0, clippedTo: height, width)
        binnedSource.model = binnedModel(inside, by: binning)
        binnedSource.flux = binnedSource.model.total
        if source.snrIso.isFinite {
            // √(Σ S²) / σ on the binned grid, from the source's own (which may weigh a varying depth).
            let power = { (m: SparseImage) in m.pixels.reduce(0.0) { $0 + Double($1) * Double($1) } }
            binnedSource.snrIso = source.snrIso * (power(binnedSource.model) / power(inside)).squareRoot() / noiseGrowth
            binnedSource.isDetectable = binnedSource.snrIso >= detectionSNR
        }
        return binnedSource
    }

    /// The spread of `noisy − noiseless` over the finite pixels.
    private func residualSD(_ noisy: [Float], _ noiseless: [Float]) -> Double {
        var sum = 0.0, sumSquares = 0.0, count = 0.0
        for (a, b) in zip(noisy, noiseless) where a.isFinite && b.isFinite {
            let r = Double(a - b); sum += r; sumSquares += r * r; count += 1
        }
        guard count > 1 else { return .nan }
        let mean = sum / count
        return (max(0, sumSquares / count - mean * mean)).squareRoot()
    }

    /// A model stamp, already clipped to the image, binned as part of this image: the noiseless
    /// image holds only the light inside it, and a block the edge cuts is scaled by the pixels it
    /// has inside the image, so light beyond the edge must not be counted in its sum.
    private func binnedModel(_ inside: SparseImage, by binning: PixelBinning) -> SparseImage {
        let box = binning.bin(inside.pixels, y0: inside.y0, x0: inside.x0, height: inside.height, width: inside.width,
                              imageHeight: height, imageWidth: width)
        return SparseImage(y0: box.y0, x0: box.x0, height: box.height, width: box.width, pixels: box.pixels)
    }
}
