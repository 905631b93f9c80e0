import FITSIO
import Foundation

/// The committed files written by astropy (tools/make_fits_fixtures.py).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

/// The values astropy computed when it wrote the fixtures.
func expectedValues() throws -> [String: Any] {
    let data = try Data(contentsOf: fixtures.appendingPathComponent("expected.json"))
    return try JSONSerialization.jsonObject(with: data) as! [String: Any]
}

/// A fresh empty directory for one test, removed by the caller with `cleanup`.
func makeScratchDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("pais-fitsio-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func cleanup(_ directory: String) { try? FileManager.default.removeItem(atPath: directory) }

/// The message of the FITSError `body` throws, or nil if it throws none.
func fitsErrorMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as FITSError {
        return error.description
    } catch {
        return "unexpected error type: \(error)"
    }
}
