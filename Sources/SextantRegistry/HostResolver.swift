#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import Synchronization

/// Resolves gateway hostnames (RESOLVE_HOSTNAME_GATEWAYS) with the system resolver, through a process-wide cache.
///
/// Answers (and failures) are kept for `cacheLifetime`, so a cluster rebuilt on every endpoint change looks a
/// gateway hostname up at most once per lifetime, and a load balancer's rotating answers change the gateways at most
/// that often.
public enum HostResolver {
  /// How long an answer is reused.
  public static let cacheLifetime: Duration = .seconds(30)

  private struct Entry {
    var addresses: [String]
    var expires: ContinuousClock.Instant
  }

  private static let cache = Mutex<[String: Entry]>([:])

  /// The cached addresses of `hostname`, looking it up (blocking) when absent or expired.
  public static func cachedAddresses(_ hostname: String) -> [String] {
    let now = ContinuousClock.now
    if let entry = cache.withLock({ $0[hostname] }), entry.expires > now { return entry.addresses }
    let addresses = Self.addresses(hostname)
    cache.withLock { $0[hostname] = Entry(addresses: addresses, expires: now.advanced(by: cacheLifetime)) }
    return addresses
  }

  /// The IPv4 and IPv6 addresses of `hostname`, sorted and without duplicates; empty when it does not resolve.
  ///
  /// Blocks the caller for the lookup: used only for the hostnames of gateway Services, when enabled.
  public static func addresses(_ hostname: String) -> [String] {
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
      if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
        result.insert(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
      }
      cursor = entry.pointee.ai_next
    }
    return result.sorted()
  }
}
