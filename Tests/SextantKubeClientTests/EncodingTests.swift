import Testing

@testable import SextantKubeClient

@Suite("Base64 and content hashes")
struct EncodingTests {
  @Test("base64 decodes padded, unpadded and line-wrapped text")
  func base64Decodes() throws {
    #expect(try Base64.decode("aGVsbG8=").get() == Array("hello".utf8))
    #expect(try Base64.decode("aGVsbG8").get() == Array("hello".utf8))
    #expect(try Base64.decode("aGVs\nbG8h\r\n").get() == Array("hello!".utf8))
    #expect(try Base64.decode("").get() == [])
    #expect(try Base64.decode("/+8=").get() == [0xFF, 0xEF])
  }

  @Test(
    "base64 failures name the offending position",
    arguments: [
      ("aGVs%G8=", "invalid character \"%\" at offset 4"),
      ("aGVsbG8=a", "data after padding at offset 8"),
      ("a", "truncated input (1 character left over)"),
      ("=abc", "misplaced padding \"=\" at offset 0"),
    ])
  func base64Fails(input: String, reason: String) {
    guard case .failure(let failure) = Base64.decode(input) else {
      Issue.record("\(input) decoded")
      return
    }
    #expect(failure.reason == reason)
  }

  @Test("the kubeconfig content hash is SHA-256 in hex")
  func contentHashIsSHA256() {
    #expect(Kubeconfig.hash(of: "") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(Kubeconfig.hash(of: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }
}
