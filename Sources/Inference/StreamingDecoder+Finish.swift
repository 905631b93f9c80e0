import PCR
import Tensors

/// One source's measurements after the last block: its image (or, without per-source images,
/// its shape window), windowed position, isophotal shape, Kron aperture, half-light radius, and
/// the aperture on each measured band.
struct MeasuredSource {
    var image: SparseImage
    var centroid: (y: Double, x: Double)
    var artefact: Bool
    var shape: IsophotalShape
    var kron: KronAperture
    var fluxRadius: Double
    var bands: [(flux: Double, variance: Double)]
    /// Per channel (the image, then the measured bands) and aperture: Σ f D and Σ f² V.
    var apertures: [[(flux: Double, variance: Double)]]
}

extension StreamingDecoder {
    /// Sources measured at once by `finish`: enough to keep both cores busy, few enough that
    /// their images stay small next to a block.
    static let finishBatch = 256

    /// After the last block: assembles every source's image (its flux is the image's sum) and
    /// hands stamps and catalog to the sink (only the catalog without per-source images);
    /// returns the catalog (images left `.empty`).
    ///
    /// Sources are assembled and measured in parallel, `finishBatch` at a time (each only reads
    /// the stores and its own sums), then handed to the sink in id order: this last pass was one
    /// thread's work while the other core at most wrote stamps.
    @discardableResult
    func finish() throws -> [DeblendedSource] {
        precondition(deferred.count == 0, "pixels still waiting after the last block")
        // Without per-source images, the windows stand in for them.
        let images = stamps ?? shapeWindows
        let stores = [images] + channelWindows + varianceWindows
        for store in stores { try store?.finishAdding() }
        if let stamps {
            try sink.beginStamps(stamps.bounds.map { b in
                b.map { (y0: $0.y0, x0: $0.x0, height: $0.y1 - $0.y0 + 1, width: $0.x1 - $0.x0 + 1) } ?? (y0: 0, x0: 0, height: 0, width: 0)
            })
        }
        var sources: [DeblendedSource] = []
        sources.reserveCapacity(centres.count)
        for first in stride(from: 0, to: centres.count, by: Self.finishBatch) {
            let batch = first..<min(centres.count, first + Self.finishBatch)
            let measured = try measure(batch, images: images)
            if stamps != nil { try sink.stamps(firstID: batch.lowerBound + 1, measured.map(\.image)) }
            for (j, source) in zip(batch, measured) {
                sources.append(catalogRow(j, flux: stamps != nil ? source.image.total : fluxWithoutImages[j], source))
            }
        }
        for store in stores { store?.close() }    // the spills may live in the directory the sink renames
        try sink.finish(sources: sources)
        return sources
    }

    /// Sources `batch` measured in parallel, in order; the first failure is thrown.
    private func measure(_ batch: Range<Int>, images: StampStore?) throws -> [MeasuredSource] {
        var results = [Result<MeasuredSource, any Error>?](repeating: nil, count: batch.count)
        results.withUnsafeMutableBufferPointer { buffer in
            let out = buffer                          // each index writes only its own result
            let work: (Int, Int) -> Void = { lo, hi in
                for i in lo..<hi { out[i] = Result { try self.measure(batch.lowerBound + i, images: images) } }
            }
            if settings.parallelDecode { Parallel.forRanges(batch.count, grain: 1, work) } else { work(0, batch.count) }
        }
        return try results.map { try $0!.get() }
    }

    /// Source `j`'s image (or window) from `images`, its shape and Kron aperture, and the same
    /// aperture on each measured band.
    private func measure(_ j: Int, images: StampStore?) throws -> MeasuredSource {
        let image = try images?.assemble(j) ?? .empty
        // The isophote is in units of one pixel's sky noise (as source-extractor's threshold), not
        // of the variances inflated for sums of correlated pixels.
        let isophote = settings.pixelNoise.map { noise in
            IsophotalShape(image, y: centres[j].y, x: centres[j].x) { row, columns in noise.sky.rmsRow(row, columns: columns) }
        } ?? IsophotalShape()
        let shift = moments[j].centroidShift
        let barycentre = (y: Double(centres[j].y) + shift.y, x: Double(centres[j].x) + shift.x)
        let centroid = WindowedCentroid.measure(image, y: barycentre.y, x: barycentre.x) ?? barycentre
        let variances = try varianceWindows[0]?.assemble(j)
        let kron = KronAperture(image, variances: variances, y: centroid.y, x: centroid.x, centre: centres[j], shape: isophote)
        let bandImages = try bands.indices.map { b in
            (image: try channelWindows[b + 1]!.assemble(j), variances: try varianceWindows[b + 1]?.assemble(j))
        }
        let bandKron = bandImages.map { kron.measure($0.image, variances: $0.variances) }
        let circles = settings.apertureRadii.map { KronAperture.circle(y: centroid.y, x: centroid.x, centre: centres[j], radius: $0) }
        let apertures = ([(image, variances)] + bandImages).map { channel in
            circles.map { $0.measure(channel.0, variances: channel.1) }
        }
        // source-extractor's FLUX_RADIUS: half of FLUX_AUTO, on the pixels the aperture reads.
        let half = IsophotalShape.windowHalfSide, c = centres[j]
        let fluxRadius = image.fluxRadius(y: centroid.y, x: centroid.x, total: kron.flux, maxRadius: kron.semiMajorAxis,
                                          window: ((c.y - half)..<(c.y + half + 1), (c.x - half)..<(c.x + half + 1)))
        let sigma = settings.pixelNoise?.sky.rmsRow(centres[j].y, columns: centres[j].x..<(centres[j].x + 1)).first ?? 0
        let artefact = SharpPeak.isArtefact(moments[j], sigma: sigma)
        return MeasuredSource(image: image, centroid: centroid, artefact: artefact, shape: isophote, kron: kron, fluxRadius: fluxRadius,
                              bands: bandKron, apertures: apertures)
    }

    /// Source `j`'s catalog row (its image left `.empty`), with `flux` its attributed flux.
    private func catalogRow(_ j: Int, flux: Double, _ measured: MeasuredSource) -> DeblendedSource {
        let shape = measured.shape, kron = measured.kron
        func error(_ c: Int) -> Double { channelVariance[c].isEmpty ? .nan : channelVariance[c][j].squareRoot() }
        func apertures(_ channel: Int) -> [ApertureFlux] {
            measured.apertures[channel].map { ApertureFlux(flux: $0.flux, fluxError: $0.variance.squareRoot()) }
        }
        let bandFluxes = bands.indices.map { b in
            BandFlux(flux: channelFlux[b + 1][j], fluxError: error(b + 1), autoFlux: measured.bands[b].flux,
                     autoFluxError: measured.bands[b].variance.squareRoot(), apertures: apertures(b + 1))
        }
        return DeblendedSource(id: j + 1, y: centres[j].y, x: centres[j].x, peak: peakValues[j], flux: flux,
                               fluxError: error(0), bands: bandFluxes,
                               yCentroid: measured.centroid.y, xCentroid: measured.centroid.x,
                               autoFlux: kron.flux, autoFluxError: kron.variance.squareRoot(), kronRadius: kron.radius,
                               fluxRadius: measured.fluxRadius, apertures: apertures(0),
                               isophotalArea: shape.area, a: shape.a, b: shape.b, theta: shape.theta, ownedPixels: owned[j],
                               blended: positiveFlux[j] > 0 && sharedFlux[j] > settings.blendFluxFraction * positiveFlux[j],
                               foundInResidual: foundInResidual[j], artefact: measured.artefact, image: .empty)
    }
}
