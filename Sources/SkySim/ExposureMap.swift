/// A dithered mosaic's exposure map: the time that reached each pixel, so that the depth varies
/// across a simulated field as it does across real HST mosaics (a drizzled `WHT` map of type EXP).
///
/// Exposure 0 covers the whole field; each further one covers a rectangle of 30-90 % of each
/// side at a random place, and loses about 1.5 % of its pixels to cosmic-ray hits (short random
/// walks of 1-6 px), which drizzling masks in that exposure alone. Exposure 0 is kept clean so
/// every pixel has data. The map therefore has steps at the rectangles' edges and pixel-scale
/// holes, both finer than a background mesh.
public enum ExposureMap {
    /// Seconds of one exposure: the unit of the written map (its scale is arbitrary to users of a
    /// weight map, who calibrate it against the image's measured noise).
    public static let secondsPerExposure: Float = 800

    /// Pixels hit per exposure, on average.
    static let cosmicRayFraction = 0.015

    /// Exposure time per pixel, `[height, width]` row-major; a pure function of its arguments.
    public static func draw(height: Int, width: Int, exposures: Int, seed: UInt64, fieldID: UInt64) -> [Float] {
        precondition(exposures >= 1)
        var map = [Float](repeating: secondsPerExposure, count: height * width)
        for exposure in 1..<exposures {
            var rng = RandomStream(seed, fieldID, 9, UInt64(exposure))
            var covered = [Bool](repeating: false, count: height * width)
            let h = max(1, Int((0.3 + 0.6 * rng.uniform()) * Double(height)))
            let w = max(1, Int((0.3 + 0.6 * rng.uniform()) * Double(width)))
            let y0 = Int(rng.uniform() * Double(height - h + 1)), x0 = Int(rng.uniform() * Double(width - w + 1))
            for y in y0..<(y0 + h) { for x in x0..<(x0 + w) { covered[y * width + x] = true } }
            let hits = Int(cosmicRayFraction * Double(h * w) / 3.5)       // a walk hits 3.5 px on average
            for _ in 0..<hits {
                var y = y0 + Int(rng.uniform() * Double(h)), x = x0 + Int(rng.uniform() * Double(w))
                for _ in 0..<(1 + Int(rng.uniform() * 6)) {
                    if (0..<height).contains(y), (0..<width).contains(x) { covered[y * width + x] = false }
                    switch Int(rng.uniform() * 4) {
                    case 0: y += 1
                    case 1: y -= 1
                    case 2: x += 1
                    default: x -= 1
                    }
                }
            }
            for i in map.indices where covered[i] { map[i] += secondsPerExposure }
        }
        return map
    }

    /// The factor on the noise of each pixel of `map`: √(median / t), so the depth (m5) holds at the
    /// median exposure and a pixel with k times that time has 1/√k of its noise.
    public static func noiseFactors(_ map: [Float]) -> [Float] {
        let median = map.sorted()[map.count / 2]
        return map.map { ($0 > 0 ? median / $0 : 0).squareRoot() }
    }
}
