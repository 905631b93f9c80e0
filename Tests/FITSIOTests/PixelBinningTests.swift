import FITSIO
import Foundation
import Testing

/// `PixelBinning`: N×N blocks summed, the blocks the edge cuts or blank pixels hole scaled to the
/// block's area, and the WCS of the binned grid, checked against float64 sums written out here and
/// against wcslib evaluating the file's own WCS.
@Suite("Pixel binning")
struct PixelBinningTests {
    /// A 5 x 7 image with two blank pixels, values distinct enough that any mixed-up index shows.
    static let (height, width) = (5, 7)
    static let image: [Float] = (0..<35).map { k in [9, 30].contains(k) ? .nan : Float(k * k % 17) + 0.25 * Float(k) }

    /// Block (by, bx) by hand: N² times the mean of its finite pixels inside the image.
    static func reference(_ factor: Int, by: Int, bx: Int) -> Double {
        var sum = 0.0, count = 0
        for y in (by * factor)..<min(height, (by + 1) * factor) {
            for x in (bx * factor)..<min(width, (bx + 1) * factor) where image[y * width + x].isFinite {
                sum += Double(image[y * width + x]); count += 1
            }
        }
        return count == 0 ? .nan : sum * Double(factor * factor) / Double(count)
    }

    @Test(arguments: [1, 2, 3, 5])
    func blocksHoldTheirSumScaledToTheBlocksArea(factor: Int) throws {
        let binning = try PixelBinning(factor: factor)
        let binned = binning.bin(Self.image, height: Self.height, width: Self.width)
        let size = binning.binnedSize(height: Self.height, width: Self.width)
        #expect(size.height == (Self.height + factor - 1) / factor && size.width == (Self.width + factor - 1) / factor)
        #expect(binned.count == size.height * size.width)
        for by in 0..<size.height {
            for bx in 0..<size.width {
                let expected = Self.reference(factor, by: by, bx: bx)
                let value = Double(binned[by * size.width + bx])
                #expect(expected.isNaN ? value.isNaN : abs(value - expected) <= 1e-5 * max(1, abs(expected)), "block (\(by), \(bx))")
            }
        }
        // A whole block without blanks is the plain sum: rows 0-1, columns 0-1 at N = 2.
        if factor == 2 { #expect(binned[0] == Self.image[0] + Self.image[1] + Self.image[7] + Self.image[8]) }
    }

    @Test func aBlockWithoutDataIsBlank() throws {
        let binned = try PixelBinning(factor: 2).bin([.nan, .infinity, 1, 2, -.infinity, .nan, 3, 4], height: 2, width: 4)
        #expect(binned[0].isNaN && binned[1] == 10)
    }

    /// Sources' boxes, their pixels outside the box 0, bin to the binned sum of the sources, the
    /// edge blocks included, because a block's scale counts its pixels inside the image. Scaling
    /// by the pixels inside the box instead (the control) breaks it at the cut edge.
    @Test func boxesOfSourcesBinToTheBinnedSum() throws {
        let (h, w) = (7, 9)
        let boxes: [(y0: Int, x0: Int, h: Int, w: Int)] = [(-2, 5, 6, 4), (3, -1, 4, 5), (1, 2, 5, 5)]
        var total = [Double](repeating: 0, count: h * w)
        var pixelsOf: [[Float]] = []
        for (k, box) in boxes.enumerated() {
            var pixels = [Float](repeating: 0, count: box.h * box.w)
            for y in 0..<box.h { for x in 0..<box.w {
                let value = Float(k + 1) * (1 + Float((y * 3 + x * 5) % 7))
                pixels[y * box.w + x] = value
                let (iy, ix) = (box.y0 + y, box.x0 + x)
                if 0..<h ~= iy, 0..<w ~= ix { total[iy * w + ix] += Double(value) }
            } }
            pixelsOf.append(pixels)
        }
        for factor in [2, 3] {
            let binning = try PixelBinning(factor: factor)
            let size = binning.binnedSize(height: h, width: w)
            let binnedTotal = binning.bin(total.map(Float.init), height: h, width: w)
            func summed(insideBox: Bool) -> [Double] {
                var sum = [Double](repeating: 0, count: size.height * size.width)
                for (k, box) in boxes.enumerated() {
                    // The control: the box's own extent taken as the image.
                    let b = insideBox ? binning.bin(pixelsOf[k], y0: 0, x0: 0, height: box.h, width: box.w, imageHeight: box.h, imageWidth: box.w)
                        : binning.bin(pixelsOf[k], y0: box.y0, x0: box.x0, height: box.h, width: box.w, imageHeight: h, imageWidth: w)
                    let (y0, x0) = insideBox ? (Int((Double(box.y0) / Double(factor)).rounded(.down)), Int((Double(box.x0) / Double(factor)).rounded(.down))) : (b.y0, b.x0)
                    for y in 0..<b.height { for x in 0..<b.width where 0..<size.height ~= y0 + y && 0..<size.width ~= x0 + x {
                        sum[(y0 + y) * size.width + x0 + x] += Double(b.pixels[y * b.width + x])
                    } }
                }
                return sum
            }
            func matches(_ sum: [Double]) -> Bool {
                zip(sum, binnedTotal).allSatisfy { abs($0 - Double($1)) <= 1e-4 * max(1, abs($0)) }
            }
            #expect(matches(summed(insideBox: false)), "factor \(factor)")
            #expect(!matches(summed(insideBox: true)), "the control must break the sum at factor \(factor)")
        }
    }

    @Test func coordinatesMapBlockCentres() throws {
        let binning = try PixelBinning(factor: 3)
        // Block 0 covers input pixels 0, 1, 2: its centre is input pixel 1.
        #expect(binning.original(0) == 1 && binning.binned(1) == 0)
        #expect(binning.binned(binning.original(4.3)) == 4.3)
        #expect(throws: FITSError.self) { try PixelBinning(factor: 0) }
    }

    /// The celestial cards of TAN systems written three ways: CD, PC with CDELT, CROTA with CDELT.
    static let systems: [[String]] = {
        let common = ["CTYPE1  = 'RA---TAN'", "CTYPE2  = 'DEC--TAN'", "CRPIX1  = 1021.5 / ref x", "CRPIX2  = 980.25",
                      "CRVAL1  = 53.1625", "CRVAL2  = -27.7914"]
        return [
            common + ["CD1_1   = -8.3333333333E-6 / deg/px", "CD1_2   = 1.2E-6", "CD2_1   = 1.1E-6", "CD2_2   = 8.3333333333E-6"],
            common + ["CDELT1  = -8.3333333333E-6", "CDELT2  = 8.3333333333E-6", "PC1_1   = 0.99", "PC1_2   = 0.14", "PC2_1   = -0.14", "PC2_2   = 0.99"],
            common + ["CDELT1  = -8.3333333333E-6", "CDELT2  = 8.3333333333E-6", "CROTA2  = 12.5"],
        ]
    }()

    /// wcslib puts each binned pixel where the file's WCS puts its block's centre; the control,
    /// the reference pixel divided without the half-pixel shift, lands a block's width off.
    @Test(arguments: [0, 1, 2])
    func theBinnedWCSPutsEachBlockWhereItsPixelsAre(system: Int) throws {
        let wcs = try CelestialWCS(cards: Self.systems[system], source: "x.fits")
        for factor in [2, 3] {
            let binning = try PixelBinning(factor: factor)
            let binned = try wcs.binned(by: binning, source: "x.fits")
            for (x, y) in [(0.0, 0.0), (100.0, 37.0), (511.5, 1023.0), (-3.0, 2000.0)] {
                let ours = try binned.world(x: x, y: y), theirs = try wcs.world(x: binning.original(x), y: binning.original(y))
                #expect(abs(ours.ra - theirs.ra) * cos(theirs.dec * .pi / 180) * 3600 < 1e-7 && abs(ours.dec - theirs.dec) * 3600 < 1e-7)
                let shifted = try wcs.world(x: Double(factor) * x, y: Double(factor) * y)
                #expect(abs(ours.dec - shifted.dec) * 3600 + abs(ours.ra - shifted.ra) * 3600 > 1e-3, "the control must miss")
            }
            #expect(binned.cards.count == wcs.cards.count)
        }
    }
}

/// Header cards split by cfitsio, as the binned WCS and `pais fits bin` read them.
@Test func headerCardsSplitIntoKeywordValueAndComment() throws {
    let numeric = try HeaderCard("CD1_1   = -1.66666666666667D-05 / [deg/px] pixel to sky matrix")
    #expect(numeric.keyword == "CD1_1" && numeric.number == -1.66666666666667e-05 && numeric.comment == "[deg/px] pixel to sky matrix")
    let text = try HeaderCard("CTYPE1  = 'RA---TAN'           / right ascension")
    #expect(text.keyword == "CTYPE1" && text.number == nil && text.value == "'RA---TAN'")
    #expect(try HeaderCard("HIERARCH ESO DET NDIT = 5 / a long keyword").keyword == "ESO DET NDIT")
    #expect(try HeaderCard("SIMPLE  =                    T").number == nil)
}
