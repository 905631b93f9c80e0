import CFITSIO
import Foundation

/// A failed cfitsio call or an invalid FITS request, naming the file and the problem.
///
/// `description` is one line meant for users: `"<file>: <problem>"`, with cfitsio's own status
/// text when the library reported the failure.
public struct FITSError: Error, CustomStringConvertible, Sendable {
    /// The file the operation was about.
    public let path: String
    /// The cfitsio function that failed, or the PAIS operation for errors found by PAIS.
    public let call: String
    /// cfitsio's status code, or 0 for errors detected by PAIS itself.
    public let status: Int32
    /// cfitsio's status text plus the top of its error-message stack, or PAIS's explanation.
    public let message: String

    public init(path: String, call: String, status: Int32 = 0, message: String) {
        self.path = path
        self.call = call
        self.status = status
        self.message = message
    }

    public var description: String {
        status == 0 ? "\(path): \(message)" : "\(path): \(message) (\(call), cfitsio status \(status))"
    }
}

/// Runs one cfitsio call and throws a `FITSError` carrying cfitsio's message if it fails.
///
/// Every cfitsio call in PAIS goes through here: the closure receives the `status` in/out
/// argument that cfitsio functions take, starting at 0.
@discardableResult
func fitsCall(_ call: String, path: String, _ body: (inout Int32) -> Int32) throws -> Int32 {
    var status: Int32 = 0
    errno = 0
    let result = body(&status)
    if status != 0 {
        let systemError = errno
        var message = cfitsioMessage(status: status)
        // cfitsio reports a failed write or create without the system's reason; a full disk
        // ("No space left on device") is the usual one, and the user should see it by name.
        if systemErrorStatuses.contains(status), systemError != 0 {
            message = message.trimmingCharacters(in: CharacterSet(charactersIn: ": ")) + ": " + String(cString: strerror(systemError))
        }
        throw FITSError(path: path, call: call, status: status, message: message)
    }
    return result
}

/// cfitsio's FILE_NOT_CREATED, WRITE_ERROR and FILE_NOT_CLOSED: failures of the file system,
/// which leaves the reason in `errno`.
private let systemErrorStatuses: Set<Int32> = [105, 106, 110]

/// cfitsio's text for a status code, followed by the most specific message on its error stack.
func cfitsioMessage(status: Int32) -> String {
    var text = [CChar](repeating: 0, count: Int(cfitsio_flen_errmsg()) + 1)
    ffgerr(status, &text)
    var summary = decodeCString(text)
    // The error stack holds cfitsio's detailed messages; the first one is usually the most telling.
    var detail = [CChar](repeating: 0, count: 81)
    var details: [String] = []
    while ffgmsg(&detail) > 0 {
        let line = decodeCString(detail).trimmingCharacters(in: .whitespaces)
        if !line.isEmpty { details.append(line) }
    }
    if let first = details.first, first != summary { summary += " — " + first }
    return summary
}

/// Decodes a NUL-terminated C character buffer filled in by cfitsio.
func decodeCString(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
