import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Looks hostnames up with the system resolver.
package enum HostResolver {
  /// `addresses(hostname)` on a Dispatch worker, so the lookup never occupies a thread of Swift's cooperative pool.
  package static func lookup(_ hostname: String) async -> [String] {
    await withCheckedContinuation { continuation in
      DispatchQueue.global().async { continuation.resume(returning: addresses(hostname)) }
    }
  }

  /// The IPv4 and IPv6 addresses of `hostname`, sorted and without duplicates; empty when it does not resolve.
  ///
  /// Blocks the caller for the lookup: call it through `lookup`.
  package static func addresses(_ hostname: String) -> [String] {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    #if canImport(Glibc)
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    #else
    hints.ai_socktype = SOCK_STREAM
    #endif
    var list: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(hostname, nil, &hints, &list) == 0, let first = list else { return [] }
    defer { freeaddrinfo(first) }
    var result: Set<String> = []
    var cursor: UnsafeMutablePointer<addrinfo>? = first
    while let entry = cursor {
      var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
      if getnameinfo(
        entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0
      {
        result.insert(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
      }
      cursor = entry.pointee.ai_next
    }
    return result.sorted()
  }
}
