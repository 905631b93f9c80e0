import FITSIO
import Foundation
import PCR
import SkySim
import Testing
@testable import Datasets

/// `pais simulate` output: byte-identical for the same seed, different for another; loads back
/// with the same sources and models; RA/Dec catalog positions map back to x/y through the WCS.
@Test func simulatedFieldFileIsDeterministicAndLoadsBack() throws {
    let dir = temporaryDirectory("field")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let field = try smallField()
    try SimulatedFieldFile.write(field, to: dir + "/a.fits", csvPath: dir + "/a.csv", overwrite: false)
    try SimulatedFieldFile.write(try smallField(), to: dir + "/b.fits", csvPath: dir + "/b.csv", overwrite: false)
    try SimulatedFieldFile.write(try smallField(seed: 6), to: dir + "/c.fits", csvPath: nil, overwrite: false)
    let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.fits"))
    #expect(a == (try Data(contentsOf: URL(fileURLWithPath: dir + "/b.fits"))))
    #expect(a != (try Data(contentsOf: URL(fileURLWithPath: dir + "/c.fits"))))
    #expect(throws: (any Error).self) { try SimulatedFieldFile.write(field, to: dir + "/a.fits", csvPath: nil, overwrite: false) }
    let loaded = try FieldLoader.load(imagePath: dir + "/a.fits", catalogPath: nil, modelsPath: nil)
    #expect(loaded.image == field.noisy && loaded.sources.count == field.sources.count)
    for (s, t) in zip(loaded.sources, field.stamps) { #expect(s.model.pixels == t.pixels && s.model.y0 == t.y0) }
    // A CSV catalog with only ra/dec gives the same positions through the WCS (to 1e-6 px).
    let table = try FITSTable.read(from: dir + "/a.csv")
    let radec = try FITSTable(columns: [table["id"], table["ra"], table["dec"], table["is_detectable"]].compactMap { $0 })
    try radec.writeCSV(to: dir + "/radec.csv")
    let viaSky = try FieldLoader.load(imagePath: dir + "/a.fits", catalogPath: dir + "/radec.csv", modelsPath: dir + "/a.fits")
    for (p, q) in zip(viaSky.sources, loaded.sources) { #expect(abs(p.x - q.x) < 1e-6 && abs(p.y - q.y) < 1e-6) }
}

/// Bad inputs fail with a message naming the problem, and leave no dataset directory behind.
@Test func badInputsGiveClearErrorsAndWriteNothing() throws {
    let dir = temporaryDirectory("bad")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let field = try smallField()
    try SimulatedFieldFile.write(field, to: dir + "/f.fits", csvPath: dir + "/f.csv", overwrite: false)
    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }
    // Catalog position far outside the image.
    try "id,x,y\n0,10,10\n1,500,20\n".write(toFile: dir + "/out.csv", atomically: true, encoding: .utf8)
    #expect(message { _ = try FieldLoader.load(imagePath: dir + "/f.fits", catalogPath: dir + "/out.csv", modelsPath: nil) }.contains("row 1 position"))
    // Empty catalog.
    try "id,x,y\n".write(toFile: dir + "/empty.csv", atomically: true, encoding: .utf8)
    #expect(message { _ = try FieldLoader.load(imagePath: dir + "/f.fits", catalogPath: dir + "/empty.csv", modelsPath: nil) }.contains("empty"))
    // Model cube whose shape does not match the image.
    let cube = try FITSFile.create(dir + "/cube.fits")
    try cube.writeImage(FITSImage(shape: [96, 90, 2], pixels: [Float](repeating: 0, count: 96 * 90 * 2)))
    try cube.commit()
    try "id,x,y\n0,10,10\n1,50,20\n".write(toFile: dir + "/two.csv", atomically: true, encoding: .utf8)
    #expect(message { _ = try FieldLoader.load(imagePath: dir + "/f.fits", catalogPath: dir + "/two.csv", modelsPath: dir + "/cube.fits") }.contains("model cube is 96x90x2"))
    // NaN pixel in the image.
    var pixels = field.noisy; pixels[5 * 96 + 7] = .nan
    let nanImage = try FITSFile.create(dir + "/nan.fits")
    try nanImage.writeImage(FITSImage(width: 96, height: 96, pixels: pixels))
    try nanImage.commit()
    #expect(message { _ = try FieldLoader.load(imagePath: dir + "/nan.fits", catalogPath: dir + "/f.csv", modelsPath: dir + "/f.fits") }.contains("pixel (y=5, x=7)"))
    // Sample larger than the field.
    let loaded = try FieldLoader.load(imagePath: dir + "/f.fits", catalogPath: nil, modelsPath: nil)
    #expect(message { _ = try FieldSampleSource(field: loaded, sampleHeight: 128, sampleWidth: 128, trainCount: 1, testCount: 1, seed: 1) }.contains("larger than"))
    #expect(message { _ = try FieldSampleSource(field: loaded, sampleHeight: 64, sampleWidth: 64, trainCount: 1, testCount: 1, seed: 1) }.contains("disjoint"))
    // A directory that already holds a different dataset is refused; nothing half-written remains.
    let source = try FieldSampleSource(field: loaded, sampleHeight: 32, sampleWidth: 32, trainCount: 3, testCount: 2, seed: 1)
    let manifest = DatasetManifest(generator: "t", command: "t", sampleHeight: 0, sampleWidth: 0, n: 3, heatmapSigma: 8,
                                   heatmapWindowRadius: 25, labelDetectableOnly: true, seed: 1,
                                   origin: .init(kind: "field", image: dir + "/f.fits"), splits: [:])
    let out = dir + "/ds"
    try DatasetWriter(directory: out).build(source: source, splits: [("train", 3), ("test", 2)], manifest: manifest)
    #expect(message { try DatasetWriter(directory: out).build(source: source, splits: [("train", 2), ("test", 2)], manifest: manifest) }.contains("different dataset"))
    #expect(message { try DatasetWriter(directory: out).build(source: source, splits: [("train", 3), ("test", 2)], manifest: manifest) }.contains("same configuration"))
    #expect(try Dataset(directory: out, split: "train").count == 3)
    // A failing build (sample 4 does not exist in the source) leaves neither the directory nor a partial one.
    #expect(message { try DatasetWriter(directory: dir + "/failed").build(source: source, splits: [("train", 5)], manifest: manifest) }.contains("no sample"))
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("failed") }
    #expect(leftovers.isEmpty)
    // Train and test crops come from disjoint row ranges.
    for c in source.corners["train"] ?? [] { #expect(c.y + 32 <= source.testRegionStartRow) }
    for c in source.corners["test"] ?? [] { #expect(c.y >= source.testRegionStartRow) }
}

/// User-supplied fields: models as a FITS cube [S, H, W] and a CSV catalog with x, y.
@Test func cubeModelsAndCSVCatalogBuildLabels() throws {
    let dir = temporaryDirectory("cube")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let h = 40, w = 50
    var cube = [Float](repeating: 0, count: 2 * h * w)
    var image = [Float](repeating: 0, count: h * w)
    for (k, (cy, cx)) in [(10, 12), (30, 35)].enumerated() {
        for y in 0..<h { for x in 0..<w {
            let v = Float(exp(-Double((y - cy) * (y - cy) + (x - cx) * (x - cx)) / 8))
            cube[k * h * w + y * w + x] = v
            image[y * w + x] += v
        } }
    }
    let img = try FITSFile.create(dir + "/img.fits")
    try img.writeImage(FITSImage(width: w, height: h, pixels: image))
    try img.commit()
    let models = try FITSFile.create(dir + "/models.fits")
    try models.writeImage(FITSImage(shape: [w, h, 2], pixels: cube))
    try models.commit()
    try "id,x,y\n5,12,10\n6,35,30\n".write(toFile: dir + "/cat.csv", atomically: true, encoding: .utf8)
    let field = try FieldLoader.load(imagePath: dir + "/img.fits", catalogPath: dir + "/cat.csv", modelsPath: dir + "/models.fits")
    #expect(field.sources.map(\.id) == [5, 6])
    let (crop, sources) = field.crop(y0: 0, x0: 0, height: h, width: w)
    #expect(crop == image)
    let labels = try PCREncoder(n: 3).encode(height: h, width: w, sources: sources)
    #expect(labels.heatmap[10 * w + 12] == 1 && labels.heatmap[30 * w + 35] == 1)
    // A crop that holds only the second source shifts its centre and model into crop coordinates.
    let (_, shifted) = field.crop(y0: 20, x0: 25, height: 20, width: 25)
    let inside = PCREncoder.labelSet(shifted, height: 20, width: 25)
    #expect(inside.map(\.id) == [6] && inside[0].labelCentre == (10, 10))
    #expect(inside[0].model.value(y: 10, x: 10) == 1)
}
