import CFITSIO
import Foundation

/// The kind of a header-data unit.
public enum HDUKind: Sendable, Equatable {
    case image
    case asciiTable
    case binaryTable
}

/// An open FITS file positioned at one HDU; reads, and writes when opened by `FITSFile.create`.
///
/// HDU indices are 0-based (the primary HDU is 0), as in astropy; cfitsio's are 1-based.
/// The file is closed by `close()` or, on every other path, when the object goes away.
public final class FITSFile {
    /// The path the user named (for a file being written: its final name, not the temporary one).
    public let path: String
    var handle: UnsafeMutablePointer<fitsfile>?
    /// Set for files made by `create` until they are committed.
    var pendingOutput: AtomicOutput?
    /// Whether the file on disk is gzip-compressed (cfitsio inflated it into memory on open).
    var isGzipped = false

    init(path: String, handle: UnsafeMutablePointer<fitsfile>) {
        self.path = path
        self.handle = handle
    }

    deinit {
        if handle != nil {
            var status: Int32 = 0
            ffclos(handle, &status)
        }
        pendingOutput?.discard()
    }

    /// Opens an existing FITS file for reading, positioned at the primary HDU.
    ///
    /// Fails with a one-line error for a missing file, a file that is not FITS, or a header that
    /// cfitsio cannot parse.
    public static func open(_ path: String) throws -> FITSFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FITSError(path: path, call: "open", message: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw FITSError(path: path, call: "open", message: "is a directory, not a FITS file")
        }
        let gzipped = try checkFITSSignature(path)
        var pointer: UnsafeMutablePointer<fitsfile>?
        // "file://" keeps cfitsio's extended-filename syntax ([ext], [filter]) away from user paths.
        var status: Int32 = 0
        cfitsio_open(&pointer, "file://" + path, cfitsio_readonly(), &status)
        if status == END_OF_FILE || status == READ_ERROR {
            throw FITSError(path: path, call: "ffopen", status: status,
                            message: "truncated: the file ends inside its first header (\(cfitsioMessage(status: status)))")
        }
        if status != 0 {
            throw FITSError(path: path, call: "ffopen", status: status, message: cfitsioMessage(status: status))
        }
        guard let pointer else { throw FITSError(path: path, call: "ffopen", message: "cfitsio returned no file") }
        let file = FITSFile(path: path, handle: pointer)
        file.isGzipped = gzipped
        return file
    }

    /// Closes the file now, reporting any error cfitsio finds while flushing.
    public func close() throws {
        guard let open = handle else { return }
        handle = nil
        try fitsCall("ffclos", path: path) { ffclos(open, &$0) }
    }

    func requireOpen() throws -> UnsafeMutablePointer<fitsfile> {
        guard let handle else { throw FITSError(path: path, call: "use", message: "file is already closed") }
        return handle
    }

    // MARK: HDU navigation

    /// The number of HDUs in the file.
    public func hduCount() throws -> Int {
        let file = try requireOpen()
        var count: Int32 = 0
        try fitsCall("ffthdu", path: path) { ffthdu(file, &count, &$0) }
        return Int(count)
    }

    /// The 0-based index of the current HDU.
    public func currentHDUIndex() throws -> Int {
        let file = try requireOpen()
        var number: Int32 = 0
        ffghdn(file, &number)
        return Int(number) - 1
    }

    /// Moves to the HDU with a 0-based index and returns its kind.
    @discardableResult
    public func moveToHDU(_ index: Int) throws -> HDUKind {
        let file = try requireOpen()
        let count = try hduCount()
        guard index >= 0, index < count else {
            throw FITSError(
                path: path, call: "moveToHDU",
                message: "HDU index \(index) is out of range (the file has \(count) HDU\(count == 1 ? "" : "s"): 0...\(count - 1))")
        }
        var type: Int32 = 0
        try fitsCall("ffmahd", path: path) { ffmahd(file, Int32(index + 1), &type, &$0) }
        return try hduKind(type)
    }

    /// Moves to the first HDU whose EXTNAME matches `name` (case-insensitively, as cfitsio does).
    @discardableResult
    public func moveToHDU(named name: String) throws -> HDUKind {
        let file = try requireOpen()
        var status: Int32 = 0
        var mutableName = Array(name.utf8CString)
        ffmnhd(file, ANY_HDU, &mutableName, 0, &status)
        if status == BAD_HDU_NUM {
            throw FITSError(path: path, call: "moveToHDU", message: "no HDU has EXTNAME '\(name)'")
        }
        if status != 0 {
            throw FITSError(path: path, call: "ffmnhd", status: status, message: cfitsioMessage(status: status))
        }
        return try currentHDUKind()
    }

    /// The kind of the current HDU.
    public func currentHDUKind() throws -> HDUKind {
        let file = try requireOpen()
        var type: Int32 = 0
        try fitsCall("ffghdt", path: path) { ffghdt(file, &type, &$0) }
        return try hduKind(type)
    }

    private func hduKind(_ type: Int32) throws -> HDUKind {
        switch type {
        case IMAGE_HDU: return .image
        case ASCII_TBL: return .asciiTable
        case BINARY_TBL: return .binaryTable
        default: throw FITSError(path: path, call: "ffghdt", message: "unknown HDU type \(type)")
        }
    }

    /// Byte offsets of the current HDU: where its header starts, its data starts and its data ends.
    public func currentHDUByteRange() throws -> (header: Int, data: Int, end: Int) {
        let file = try requireOpen()
        var header: Int64 = 0
        var data: Int64 = 0
        var end: Int64 = 0
        try fitsCall("ffghadll", path: path) { ffghadll(file, &header, &data, &end, &$0) }
        return (Int(header), Int(data), Int(end))
    }

    /// Fails with a clear message when the file on disk is shorter than its headers promise.
    ///
    /// cfitsio opens a truncated file happily and only fails when the missing bytes are read;
    /// this finds the problem up front: every HDU's declared data must be present, and bytes after
    /// the last complete HDU mean a following HDU was cut inside its header.
    public func checkNotTruncated() throws {
        if isGzipped { return try checkGzipLength() }
        let size = sizeOnDisk
        let here = try currentHDUIndex()
        defer { _ = try? moveToHDU(here) }
        let count = try hduCount()
        var lastEnd = 0
        for index in 0..<count {
            try moveToHDU(index)
            let range = try currentHDUByteRange()
            let needed = range.data + dataBytes()
            if needed > size {
                throw FITSError(path: path, call: "checkNotTruncated",
                                message: "truncated: HDU \(index) needs \(needed) bytes but the file has only \(size)")
            }
            lastEnd = range.end
        }
        if size > lastEnd {
            throw FITSError(path: path, call: "checkNotTruncated",
                            message: "truncated: \(size - lastEnd) bytes after HDU \(count - 1) do not form a complete HDU")
        }
        if size < lastEnd {
            // FITS files are whole 2880-byte blocks; cfitsio reads data a block at a time.
            throw FITSError(path: path, call: "checkNotTruncated",
                            message: "truncated: HDU \(count - 1) ends at byte \(lastEnd) but the file has only \(size)")
        }
    }

    /// The file's size in bytes, through symbolic links (a linked data file is common;
    /// `FileManager.attributesOfItem` gives the link's own few bytes). 0 when it cannot be read.
    private var sizeOnDisk: Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// A gzip file's HDUs must end where its trailer says the FITS bytes end (the uncompressed
    /// length modulo 2^32, in its last 4 bytes): a cut or damaged stream leaves a trailer of other
    /// bytes (cfitsio does not always notice when it inflates).
    private func checkGzipLength() throws {
        let size = sizeOnDisk
        let handle = FileHandle(forReadingAtPath: path)
        defer { try? handle?.close() }
        guard size >= 18, let handle, (try? handle.seek(toOffset: UInt64(size - 4))) != nil,
              let trailer = try? handle.read(upToCount: 4), trailer.count == 4 else {
            throw FITSError(path: path, call: "checkNotTruncated", message: "truncated gzip file: no complete trailer")
        }
        let recorded = trailer.reversed().reduce(0) { $0 << 8 | Int($1) }, modulus = 1 << 32
        let here = try currentHDUIndex()
        defer { _ = try? moveToHDU(here) }
        try moveToHDU(try hduCount() - 1)
        let end = try currentHDUByteRange().end
        if end % modulus != recorded {
            throw FITSError(path: path, call: "checkNotTruncated",
                            message: "truncated or damaged gzip file: its HDUs end at byte \(end) but its trailer records \(recorded) bytes")
        }
    }

    /// The number of data bytes the current HDU declares (without block padding); for a
    /// tile-compressed image, those of the binary table that holds it.
    private func dataBytes() -> Int {
        guard let file = handle else { return 0 }
        var status: Int32 = 0
        var bitpix: Int32 = 0
        var naxis: Int32 = 0
        var naxes = [Int64](repeating: 0, count: 9)
        ffgiprll(file, 9, &bitpix, &naxis, &naxes, &status)
        var compressedStatus: Int32 = 0
        let compressed = fits_is_compressed_image(file, &compressedStatus) != 0
        if status == 0, !compressed, (try? currentHDUKind()) == .image {
            guard naxis > 0 else { return 0 }
            return Int(naxes.prefix(Int(naxis)).reduce(1, *)) * Int(abs(bitpix) / 8)
        }
        // Tables: NAXIS1 bytes per row times NAXIS2 rows, plus the heap (PCOUNT).
        status = 0
        var rowBytes: Int = 0
        var rows: Int = 0
        var heap: Int = 0
        ffgkyj(file, "NAXIS1", &rowBytes, nil, &status)
        ffgkyj(file, "NAXIS2", &rows, nil, &status)
        var heapStatus: Int32 = 0
        ffgkyj(file, "PCOUNT", &heap, nil, &heapStatus)
        return status == 0 ? rowBytes * rows + heap : 0
    }
}

/// Rejects files that are neither FITS nor gzip-compressed FITS before cfitsio tries to guess (it
/// also accepts other formats, and its message for a text file is cryptic); returns whether it is
/// gzip-compressed (cfitsio inflates such a file into memory when it opens it).
private func checkFITSSignature(_ path: String) throws -> Bool {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw FITSError(path: path, call: "open", message: "cannot be read (permission denied?)")
    }
    defer { try? handle.close() }
    let head = (try? handle.read(upToCount: 30)) ?? Data()
    let signature = Array("SIMPLE  =".utf8)
    if head.isEmpty {
        throw FITSError(path: path, call: "open", message: "is empty, not a FITS file")
    }
    let gzipped = Array(head.prefix(2)) == gzipMagic
    if Array(head.prefix(signature.count)) != signature && !gzipped {
        throw FITSError(path: path, call: "open", message: "is not a FITS file (it does not start with 'SIMPLE  =')")
    }
    return gzipped
}

private let gzipMagic: [UInt8] = [0x1F, 0x8B]
