import Foundation

extension CelestialWCS {
    /// The WCS of this image's grid binned by `binning`: the reference pixel moved to where the
    /// blocks put it and the two image axes' pixel-to-sky matrix (CDi_j, or CDELT1/2 with PC or
    /// CROTA) scaled by N, so a binned pixel's sky position is that of its block's centre. `source`
    /// names the image in errors.
    public func binned(by binning: PixelBinning, source: String) throws -> CelestialWCS {
        guard binning.factor > 1 else { return self }
        let scale = Double(binning.factor)
        let rewritten = try cards.map { text -> String in
            let parsed = try HeaderCard(text, source: source), name = parsed.keyword
            guard let value = parsed.number else { return text }
            let binned: Double
            switch name {
            case "CRPIX1", "CRPIX2": binned = (value - 0.5) / scale + 0.5
            case "CDELT1", "CDELT2": binned = value * scale
            case _ where name.hasPrefix("CD") && (name.hasSuffix("_1") || name.hasSuffix("_2")) && name.dropFirst(2).first?.isNumber == true:
                binned = value * scale
            default: return text
            }
            return card(name, format(binned), parsed.comment)
        }
        return try CelestialWCS(cards: rewritten, source: "\(source) binned \(binning.factor)x\(binning.factor)")
    }
}
