// The one checked wrapper around every Open MPI call: non-success codes become thrown errors that
// carry the call name and MPI's own message. No raw MPI return code is ignored in this module.

import CMPI

/// An MPI call that returned something other than MPI_SUCCESS.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    /// The MPI function that failed, e.g. "MPI_Allreduce".
    public let call: String
    /// The MPI error code it returned.
    public let code: Int32
    /// MPI_Error_string's text for `code`.
    public let message: String

    public var description: String { "\(call) failed with MPI error \(code): \(message)" }
}

/// Runs one MPI call and throws `MPIError` naming `name` when it does not return MPI_SUCCESS.
///
/// Errors are only returned (instead of aborting inside MPI) because the world communicator's
/// handler is set to MPI_ERRORS_RETURN at initialisation.
@discardableResult
func mpiCall(_ name: String, _ body: () -> Int32) throws -> Int32 {
    let code = body()
    guard code == cmpi_success() else {
        throw MPIError(call: name, code: code, message: mpiErrorString(code))
    }
    return code
}

/// MPI's description of an error code.
///
/// Open MPI aborts the process if MPI_Error_string is called before MPI_Init, so outside the
/// initialised window only the number is reported.
func mpiErrorString(_ code: Int32) -> String {
    var initialized: Int32 = 0
    var finalized: Int32 = 0
    _ = MPI_Initialized(&initialized)  // both are legal at any time
    _ = MPI_Finalized(&finalized)
    guard initialized != 0, finalized == 0 else {
        return "MPI error code \(code) (no message: MPI is not initialised)"
    }
    var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(code, &buffer, &length) == cmpi_success() else { return "unknown MPI error \(code)" }
    return decodeCString(buffer, length: Int(length))
}

/// Decodes the first `length` bytes of a C buffer as UTF-8, trimming trailing whitespace.
func decodeCString(_ buffer: [CChar], length: Int) -> String {
    let bytes = buffer.prefix(max(0, min(length, buffer.count))).map { UInt8(bitPattern: $0) }
    var text = String(decoding: bytes, as: UTF8.self)
    while let last = text.last, last.isWhitespace || last == "\0" { text.removeLast() }
    return text
}
