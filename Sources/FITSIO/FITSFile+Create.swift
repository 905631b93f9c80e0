import CFITSIO

extension FITSFile {
    /// Creates a new FITS file to be written; it appears under `path` only after `commit()`.
    ///
    /// Until then it is written under a temporary name in the same directory. If the object goes
    /// away without `commit()` (an error, a crash of the write), the temporary file is removed.
    public static func create(_ path: String, overwrite: Bool = false) throws -> FITSFile {
        let output = try AtomicOutput(path: path, overwrite: overwrite)
        var pointer: UnsafeMutablePointer<fitsfile>?
        try fitsCall("ffinit", path: path) { ffinit(&pointer, "file://" + output.temporaryPath, &$0) }
        guard let pointer else { throw FITSError(path: path, call: "ffinit", message: "cfitsio returned no file") }
        let file = FITSFile(path: path, handle: pointer)
        file.pendingOutput = output
        return file
    }

    /// Closes a file made by `create` and moves it to its final name.
    public func commit() throws {
        guard let output = pendingOutput else {
            throw FITSError(path: path, call: "commit", message: "file was not opened for writing")
        }
        pendingOutput = nil
        do {
            if try hduCount() == 0 {
                // A FITS file needs a primary HDU; an empty file gets a data-less one.
                try writeEmptyPrimary()
            }
            try close()
        } catch {
            output.discard()
            throw error
        }
        try output.commit()
    }

    /// Appends a primary HDU with no data (NAXIS = 0), as files whose content is all extensions have.
    public func writeEmptyPrimary() throws {
        let file = try requireOpen()
        var axes: [Int] = []
        try fitsCall("ffcrim", path: path) { ffcrim(file, 8, 0, &axes, &$0) }
    }
}
