import Foundation
import NIOCore
import SextantPKI
import Synchronization

/// The verified client-certificate identity of each open TLS connection, keyed by gRPC's remote-peer string.
///
/// The key is exactly `ServerContext.remotePeer` as grpc-swift-nio-transport formats a connection's remote address:
/// `ipv4:HOST:PORT` or `ipv6:[HOST]:PORT` (see `remotePeer(of:)`), so a handler can look up who is calling.
/// `SecureGRPCListener` records an identity when a client chain verifies and registers its removal for when the
/// connection's channel closes; a connection without a client certificate has no entry (lookups give nil). An entry
/// is removed only by the connection that recorded it, so a new connection reusing an address after a close is
/// never confused with the old one. An identity stops counting when its certificate chain expires, even while the
/// connection stays open (a later lookup, such as the re-check before a certificate is reissued, finds nothing).
/// Thread-safe.
package final class PeerIdentities: Sendable {
  private struct Entry {
    var identity: SpiffeID
    var connection: ObjectIdentifier
    /// The earliest notAfter of the verified chain; nil: no expiry known.
    var notAfter: Date?
  }

  private let entries = Mutex<[String: Entry]>([:])

  package init() {}

  /// The verified identity of the connection `remotePeer` names, or nil (no connection, no client certificate, or a
  /// chain that expired before `now`).
  package func identity(forRemotePeer remotePeer: String, now: Date = Date()) -> SpiffeID? {
    entries.withLock { entries in
      guard let entry = entries[remotePeer] else { return nil }
      if let notAfter = entry.notAfter, now > notAfter { return nil }
      return entry.identity
    }
  }

  /// How many connections have a recorded identity.
  package var count: Int { entries.withLock { $0.count } }

  /// Forgets whatever was recorded for `channel`'s remote address: called for every accepted connection, before
  /// its handshake, so that an address is never inherited from an earlier connection.
  package func connectionAccepted(_ channel: any Channel) {
    guard let key = Self.remotePeer(of: channel.remoteAddress) else { return }
    _ = entries.withLock { $0.removeValue(forKey: key) }
  }

  /// Records `identity` for `channel`'s connection, valid until `notAfter`, and removes it when the channel closes.
  package func record(_ identity: SpiffeID, notAfter: Date? = nil, for channel: any Channel) {
    guard let key = Self.remotePeer(of: channel.remoteAddress) else { return }
    let connection = ObjectIdentifier(channel)
    entries.withLock { $0[key] = Entry(identity: identity, connection: connection, notAfter: notAfter) }
    channel.closeFuture.whenComplete { [weak self] _ in
      self?.entries.withLock { entries in
        if entries[key]?.connection == connection { entries.removeValue(forKey: key) }
      }
    }
  }

  /// Records `identity` under `remotePeer` directly (tests, non-NIO transports); `remove(remotePeer:)` undoes it.
  package func record(_ identity: SpiffeID, notAfter: Date? = nil, remotePeer: String) {
    entries.withLock {
      $0[remotePeer] = Entry(identity: identity, connection: ObjectIdentifier(self), notAfter: notAfter)
    }
  }

  /// Removes the entry of `remotePeer`, if any.
  package func remove(remotePeer: String) {
    _ = entries.withLock { $0.removeValue(forKey: remotePeer) }
  }

  /// gRPC's remote-peer string for `address`: `ipv4:HOST:PORT` or `ipv6:[HOST]:PORT`; nil for Unix sockets or none.
  package static func remotePeer(of address: SocketAddress?) -> String? {
    switch address {
    case .v4(let ipv4)?:
      guard let port = address?.port else { return nil }
      return "ipv4:\(ipv4.host):\(port)"
    case .v6(let ipv6)?:
      guard let port = address?.port else { return nil }
      return "ipv6:[\(ipv6.host)]:\(port)"
    case .unixDomainSocket?, nil:
      // gRPC names Unix-socket peers by the listening path, the same for every connection: not a usable key.
      return nil
    }
  }
}
