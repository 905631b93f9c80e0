import Foundation

/// The system's reason for a failed file operation, e.g. "No space left on device", for error
/// messages that name the file themselves. Foundation wraps the errno of a failed write in a
/// Cocoa error whose printed form is a domain-and-code dump; other errors print as themselves.
public func fileErrorReason(_ error: Error) -> String {
    let wrapped = error as NSError
    if let underlying = wrapped.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if wrapped.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(wrapped.code))) }
    if wrapped.domain == NSCocoaErrorDomain { return wrapped.localizedDescription }
    return "\(error)"
}
