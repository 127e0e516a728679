import NIOCore
import NIOTLS
import SextantPKI

/// Closes a connection whose TLS handshake has not completed within `timeout` of being accepted.
///
/// Sits right after the `NIOSSLServerHandler`, which announces a completed handshake with
/// `TLSUserEvent.handshakeCompleted`; without it, a client that connects and never finishes its handshake would hold
/// a socket (and a `PeerIdentities` slot) forever.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = NIOAny

  /// Istio's (and Go's) servers allow about 10 seconds for a TLS handshake.
  static let defaultTimeout: TimeAmount = .seconds(10)

  private let timeout: TimeAmount
  private let onExpiry: @Sendable (SocketAddress?) -> Void
  private var deadline: Scheduled<Void>?

  init(timeout: TimeAmount = HandshakeDeadline.defaultTimeout, onExpiry: @escaping @Sendable (SocketAddress?) -> Void) {
    self.timeout = timeout
    self.onExpiry = onExpiry
  }

  func handlerAdded(context: ChannelHandlerContext) {
    let channel = context.channel
    let onExpiry = self.onExpiry
    deadline = context.eventLoop.scheduleTask(in: timeout) {
      onExpiry(channel.remoteAddress)
      channel.close(promise: nil)
    }
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    deadline?.cancel()
    deadline = nil
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case .handshakeCompleted = event as? TLSUserEvent {
      deadline?.cancel()
      deadline = nil
      context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
    context.fireUserInboundEventTriggered(event)
  }

  func channelInactive(context: ChannelHandlerContext) {
    deadline?.cancel()
    deadline = nil
    context.fireChannelInactive()
  }
}
