import Checksums
import Testing

/// Known answers from FIPS 180-2 (appendix B) and `printf ... | sha256sum`.
@Suite struct SHA256Tests {
    @Test func knownAnswers() {
        #expect(SHA256.hex(of: [UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var streamed = SHA256()
        streamed.update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        #expect(streamed.finalizeHex() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func streamingEqualsOneShotAndFloatsHashTheirBytes() {
        let values: [Float] = [1, -2.5, .pi, 1e-30]
        var hasher = SHA256()
        hasher.update(Array(values[0..<2]))
        hasher.update(Array(values[2...]))
        #expect(hasher.finalizeHex() == SHA256.hex(of: values))
        var flipped = values
        flipped[3] = -flipped[3]
        #expect(SHA256.hex(of: flipped) != SHA256.hex(of: values))
    }
}
