import FITSIO
import PCR

extension TruthField {
    /// The field on the grid `pais deblend --bin N` deblends: images, stamps and positions binned
    /// as its input was, so a binned deblend is scored against truth in its own pixels. What
    /// describes a source on the sky (magnitude, detectability, blendedness, snr_iso) is kept;
    /// only the flux inside the image follows the binned model, whose partial edge blocks are
    /// scaled up like the image's. Factor 1 returns the field as it is.
    public func binned(by binning: PixelBinning) -> TruthField {
        guard binning.factor > 1 else { return self }
        let size = binning.binnedSize(height: height, width: width)
        // Exact for white noise (N² independent pixels summed); drizzled mosaics' noise is
        // correlated between neighbours, so there the binned sigma is larger than this.
        let binnedSigma = sigma * Double(binning.factor)
        return TruthField(height: size.height, width: size.width,
                          noisy: binning.bin(noisy, height: height, width: width),
                          noiseless: binning.bin(noiseless, height: height, width: width),
                          sigma: binnedSigma, sources: sources.map { binned($0, by: binning) })
    }

    private func binned(_ source: TruthSource, by binning: PixelBinning) -> TruthSource {
        var binnedSource = source
        binnedSource.position = PixelPosition(x: binning.binned(source.position.x), y: binning.binned(source.position.y))
        guard !source.model.pixels.isEmpty else { return binnedSource }
        binnedSource.model = binnedModel(source.model, by: binning)
        binnedSource.flux = binnedSource.model.total
        return binnedSource
    }

    /// A model stamp binned as part of this image. The stamp is clipped to the image first: the
    /// noiseless image holds only the light inside it, and a block the edge cuts is scaled by the
    /// pixels it has inside the image, so light beyond the edge must not be counted in its sum.
    private func binnedModel(_ model: SparseImage, by binning: PixelBinning) -> SparseImage {
        let inside = model.shifted(dy: 0, dx: 0, clippedTo: height, width)
        let box = binning.bin(inside.pixels, y0: inside.y0, x0: inside.x0, height: inside.height, width: inside.width,
                              imageHeight: height, imageWidth: width)
        return SparseImage(y0: box.y0, x0: box.x0, height: box.height, width: box.width, pixels: box.pixels)
    }
}
