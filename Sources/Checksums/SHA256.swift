import CCrypto

/// SHA-256 digests (OpenSSL), for dataset shards, checkpoints and parameter-consistency checks.
///
/// Feed bytes with `update` as they are written or read, then `finalize()`; or hash a whole
/// buffer with `SHA256.hex(of:)`.
public struct SHA256: ~Copyable {
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, ccrypto_sha256(), nil) == 1 else {
            fatalError("OpenSSL could not initialise a SHA-256 context (out of memory?)")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds raw bytes to the digest.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    /// Adds the bytes of an array's elements (in memory order, i.e. little-endian on x86-64 and arm64).
    public mutating func update<Element: BitwiseCopyable>(_ values: [Element]) {
        values.withUnsafeBytes { update($0) }
    }

    /// Adds the UTF-8 bytes of a string.
    public mutating func update(_ text: String) {
        var copy = text
        copy.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// The 32-byte digest.
    public consuming func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return digest
    }

    /// The digest as 64 lowercase hex characters.
    public consuming func finalizeHex() -> String {
        hexString(finalize())
    }

    /// The hex digest of a buffer.
    public static func hex(of bytes: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalizeHex()
    }

    /// The hex digest of an array's bytes.
    public static func hex<Element: BitwiseCopyable>(of values: [Element]) -> String {
        values.withUnsafeBytes { hex(of: $0) }
    }
}

/// Lowercase hex of bytes.
public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var characters: [UInt8] = []
    characters.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        characters.append(digits[Int(byte >> 4)])
        characters.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: characters, as: UTF8.self)
}
