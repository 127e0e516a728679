/// 64-bit FNV-1a over bytes: a fast content fingerprint for telling whether a file really changed.
///
/// Not cryptographic; a collision would only hide an edit until the file's size or time changes again.
package enum FNV1a {
  package static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
  package static let prime: UInt64 = 0x0000_0100_0000_01b3

  package static func hash(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBufferPointer { buffer in
      var hash = offsetBasis
      for byte in buffer {
        hash ^= UInt64(byte)
        hash &*= prime
      }
      return hash
    }
  }
}
