import Foundation

extension CelestialWCS {
    /// The WCS of this image's grid binned by `binning`: the reference pixel moved to where the
    /// blocks put it and the two image axes' pixel-to-sky matrix (CDi_j, or CDELT1/2 with PC or
    /// CROTA) scaled by N, so a binned pixel's sky position is that of its block's centre. `source`
    /// names the image in errors.
    public func binned(by binning: PixelBinning, source: String) throws -> CelestialWCS {
        guard binning.factor > 1 else { return self }
        let scale = Double(binning.factor)
        let rewritten = cards.map { text -> String in
            let name = String(text.prefix(8)).trimmingCharacters(in: .whitespaces)
            guard let value = numericValue(of: text) else { return text }
            let comment = text.range(of: " / ").map { String(text[$0.upperBound...]) } ?? ""
            switch name {
            case "CRPIX1", "CRPIX2":
                return card(name, format((value - 0.5) / scale + 0.5), comment)
            case "CDELT1", "CDELT2":
                return card(name, format(value * scale), comment)
            case _ where name.hasPrefix("CD") && (name.hasSuffix("_1") || name.hasSuffix("_2")) && name.dropFirst(2).first?.isNumber == true:
                return card(name, format(value * scale), comment)
            default:
                return text
            }
        }
        return try CelestialWCS(cards: rewritten, source: "\(source) binned \(binning.factor)x\(binning.factor)")
    }
}

/// The number a header card holds after its "= ", nil for strings, logicals and comments.
private func numericValue(of card: String) -> Double? {
    guard card.count > 10, card.dropFirst(8).hasPrefix("= ") else { return nil }
    let field = card.dropFirst(10).split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    return Double(field.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "D", with: "E"))
}
