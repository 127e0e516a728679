import GRPCCore
import Logging
import Metrics
import SextantGeneration

/// The bounds on what one xDS client can make Sextant hold or do: per stream, per connection and per server.
///
/// Start from `defaults` (istiod's values where istiod has one: Docs/security.md, "Limits and input checks", lists
/// each limit with its environment variable). ``AdsServer`` enforces the stream limits; the gRPC servers
/// (SextantControlPlane's XDSAssembly) take the connection limits. Every limit that trips is logged with the peer
/// and counted in `sextant_xds_limit_exceeded_total{limit=…}`.
package struct XDSLimits: Sendable, Hashable {
  /// The largest request message a server accepts (ISTIO_GPRC_MAXRECVMSGSIZE, 4 MiB); larger ones end the stream
  /// with RESOURCE_EXHAUSTED (the transport's check).
  package var maximumRequestBytes: Int = 4 * 1024 * 1024
  /// HTTP/2 streams one connection may have open at once (ISTIO_GPRC_MAXSTREAMS, 100000).
  package var maximumConcurrentStreamsPerConnection: Int = 100_000
  /// Connections one server (port) keeps open at once; one beyond it is closed as it is accepted.
  package var maximumConnections: Int = 10_000
  /// ADS streams all servers serve at once; a stream beyond it ends with RESOURCE_EXHAUSTED.
  package var maximumStreams: Int = 10_000
  /// How long a connection lives before the server drains it (GOAWAY) so its proxy reconnects, spreading load
  /// over instances (istiod's chart: `--keepaliveMaxServerConnectionAge 30m`); nil: forever.
  package var maximumConnectionAge: Duration? = .seconds(30 * 60)
  /// The fraction by which each connection's age is randomly shortened or lengthened (±10%, as gRPC-Go does), so
  /// connections opened together do not all reconnect together.
  package var connectionAgeJitter: Double = 0.1
  /// How long a drained connection's streams may take to finish before it is closed (istiod: 10 s).
  package var connectionAgeGrace: Duration = .seconds(10)
  /// How often the server pings an otherwise quiet connection (GRPC_KEEPALIVE_INTERVAL, 30 s).
  package var keepaliveTime: Duration = .seconds(30)
  /// How long the server waits for a ping's answer before closing the connection (GRPC_KEEPALIVE_TIMEOUT, 10 s).
  package var keepaliveTimeout: Duration = .seconds(10)
  /// How long a connection without streams stays open; nil: forever.
  package var maximumIdleTime: Duration? = .seconds(5 * 60)
  /// Distinct type URLs Sextant does not serve that one stream may ask for; one more ends the stream with
  /// INVALID_ARGUMENT naming it.
  package var maximumUnknownTypes: Int = 16
  /// Names one request, and one stream's subscription of one type, may hold (EDS, RDS, SDS; and CDS/LDS names);
  /// beyond it the stream ends with INVALID_ARGUMENT.
  package var maximumNamesPerType: Int = 10_000
  /// How long one response may take to be written (the proxy reading it); beyond it the stream ends with
  /// DEADLINE_EXCEEDED.
  package var sendTimeout: Duration = .seconds(30)

  package init() {}

  /// istiod's values (see each field).
  package static var defaults: XDSLimits { XDSLimits() }

  /// The shortest interval between client pings the server tolerates (half the keepalive time, as istiod).
  package var minimumClientPingInterval: Duration { keepaliveTime / 2 }
}

/// A limit of ``XDSLimits`` that a stream exceeded: the stream ends with ``rpcError``.
package struct XDSLimitError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Which limit.
  package enum Code: String, Sendable, Hashable {
    case tooManyUnknownTypes = "too-many-unknown-types"
    case tooManyNames = "too-many-names"
    case sendTimeout = "send-timeout"
    case tooManyStreams = "too-many-streams"
  }

  package var code: Code
  package var message: String
  /// The peer and proxy concerned.
  package var context: String

  package init(_ code: Code, _ message: String, context: String = "") {
    self.code = code
    self.message = message
    self.context = context
  }

  package var description: String {
    context.isEmpty ? "\(code.rawValue): \(message)" : "\(code.rawValue): \(message) (\(context))"
  }

  /// The status the stream ends with.
  package var rpcError: RPCError {
    switch code {
    case .tooManyUnknownTypes, .tooManyNames: RPCError(code: .invalidArgument, message: description)
    case .sendTimeout: RPCError(code: .deadlineExceeded, message: description)
    case .tooManyStreams: RPCError(code: .resourceExhausted, message: description)
    }
  }

  /// Counts the limit in `sextant_xds_limit_exceeded_total{limit}` and logs it at warning.
  func record(logger: Logger) {
    Counter(label: "sextant_xds_limit_exceeded_total", dimensions: [("limit", code.rawValue)]).increment()
    logger.warning("ending an ADS stream: a limit was exceeded", metadata: ["error": "\(description)"])
  }
}

/// The type URLs a stream asked for that Sextant does not serve: each logged once at warning and counted
/// (`sextant_xds_unknown_types_total`); more than ``XDSLimits/maximumUnknownTypes`` end the stream.
struct UnknownTypes {
  private(set) var seen: Set<String> = []

  /// Notes a request for `typeURL`; throws once the stream asked for more distinct unknown types than `limit`.
  mutating func note(_ typeURL: String, limit: Int, logger: Logger) throws(XDSLimitError) {
    guard !seen.contains(typeURL) else { return }
    guard seen.count < limit else {
      throw XDSLimitError(
        .tooManyUnknownTypes,
        "the stream asked for more than \(limit) type URLs Sextant does not serve; the last one: \(typeURL)")
    }
    seen.insert(typeURL)
    Counter(label: "sextant_xds_unknown_types_total").increment()
    logger.warning("ignoring requests for a type Sextant does not serve", metadata: ["type": "\(typeURL)"])
  }
}

extension XDSLimits {
  /// Throws when one request or one stream's subscription of `type` names more than ``maximumNamesPerType``.
  func checkNames(_ count: Int, of type: XDSType, what: String) throws(XDSLimitError) {
    guard count > maximumNamesPerType else { return }
    throw XDSLimitError(
      .tooManyNames,
      "\(what) names \(count) \(type.shortName) resources; at most \(maximumNamesPerType) are accepted")
  }
}
