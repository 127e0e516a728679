import SextantBase
import SextantKube

/// Checks Istio Gateways and VirtualServices one by one, as Istio's validation would, and turns the accepted ones
/// into `IstioConfig`.
///
/// A rejected object is left out with a `ConfigRejection` naming it and the field; the others are unaffected.
/// Fields Sextant does not read (for example a VirtualService's `http` routes or a server's certificates) are not
/// checked.
package enum IstioConfigParser {
  /// The accepted and rejected objects of one cluster.
  package static func parse(_ objects: ClusterObjects, cluster: ClusterID, options: RegistryOptions) -> IstioConfig {
    var config = IstioConfig()
    for key in objects.gateways.keys.sorted() {
      var checker = Checker(kind: "Gateway", key: key, cluster: cluster)
      do {
        config.gateways.append(try checker.gateway(objects.gateways[key]!.spec))
      } catch {
        config.rejected.append(error)
      }
    }
    for key in objects.virtualServices.keys.sorted() {
      var checker = Checker(kind: "VirtualService", key: key, cluster: cluster)
      do {
        config.virtualServices.append(try checker.virtualService(objects.virtualServices[key]!.spec, options: options))
      } catch {
        config.rejected.append(error)
      }
    }
    return config
  }
}

/// Reads one object's spec, throwing the first problem with its field path.
private struct Checker {
  let kind: String
  let key: NamespacedName
  let cluster: ClusterID

  func reject(_ field: String, _ message: String) -> ConfigRejection {
    ConfigRejection(
      kind: kind, namespace: key.namespace, name: key.name, cluster: cluster, field: field, message: message)
  }

  func object(_ value: ConfigValue?, _ field: String) throws(ConfigRejection) -> [String: ConfigValue] {
    guard case .object(let members)? = value else {
      throw reject(field, "expected an object, found \(value?.summary ?? "nothing")")
    }
    return members
  }

  func list(_ value: ConfigValue?, _ field: String, required: Bool) throws(ConfigRejection) -> [ConfigValue] {
    switch value {
    case .array(let items)?:
      if required && items.isEmpty { throw reject(field, "must not be empty") }
      return items
    case nil, .null?:
      if required { throw reject(field, "is required") }
      return []
    case let other?:
      throw reject(field, "expected a list, found \(other.summary)")
    }
  }

  func string(_ value: ConfigValue?, _ field: String) throws(ConfigRejection) -> String {
    guard case .string(let text)? = value, !text.isEmpty else {
      throw reject(field, value == nil ? "is required" : "expected a non-empty string, found \(value!.summary)")
    }
    return text
  }

  func optionalString(_ value: ConfigValue?, _ field: String) throws(ConfigRejection) -> String? {
    guard let value, value != .null else { return nil }
    return try string(value, field)
  }

  func strings(_ value: ConfigValue?, _ field: String, required: Bool) throws(ConfigRejection) -> [String] {
    var result: [String] = []
    for (index, item) in try list(value, field, required: required).enumerated() {
      result.append(try string(item, "\(field)[\(index)]"))
    }
    return result
  }

  func integer(_ value: ConfigValue?, _ field: String, in range: ClosedRange<Int>) throws(ConfigRejection) -> Int {
    guard case .number(let number)? = value, number.rounded() == number, let integer = Int(exactly: number),
      range.contains(integer)
    else {
      throw reject(
        field,
        value == nil
          ? "is required"
          : "expected an integer between \(range.lowerBound) and \(range.upperBound), found \(value!.summary)")
    }
    return integer
  }

  func optionalInteger(_ value: ConfigValue?, _ field: String, in range: ClosedRange<Int>) throws(ConfigRejection)
    -> Int?
  {
    guard let value, value != .null else { return nil }
    return try integer(value, field, in: range)
  }

  func labels(_ value: ConfigValue?, _ field: String) throws(ConfigRejection) -> [String: String] {
    guard let value, value != .null else { return [:] }
    var result: [String: String] = [:]
    for (name, item) in try object(value, field) {
      guard case .string(let text) = item else {
        throw reject("\(field).\(name)", "expected a string, found \(item.summary)")
      }
      result[name] = text
    }
    return result
  }

  // MARK: Gateway

  mutating func gateway(_ spec: ConfigValue?) throws(ConfigRejection) -> GatewayConfig {
    let members = try object(spec, "spec")
    let selector = try labels(members["selector"], "spec.selector")
    var servers: [GatewayServer] = []
    for (index, item) in try list(members["servers"], "spec.servers", required: true).enumerated() {
      servers.append(try server(item, "spec.servers[\(index)]"))
    }
    return GatewayConfig(
      name: key.name, namespace: key.namespace, cluster: cluster, selector: selector, servers: servers)
  }

  static let protocols: Set<String> = [
    "HTTP", "HTTPS", "GRPC", "GRPC-WEB", "HTTP2", "MONGO", "REDIS", "MYSQL", "TCP", "TLS",
  ]

  func server(_ value: ConfigValue, _ field: String) throws(ConfigRejection) -> GatewayServer {
    let members = try object(value, field)
    let port = try object(members["port"], "\(field).port")
    let number = try integer(port["number"], "\(field).port.number", in: 1...65535)
    let name = try optionalString(port["name"], "\(field).port.name") ?? ""
    let proto = try string(port["protocol"], "\(field).port.protocol").uppercased()
    guard Self.protocols.contains(proto) else {
      throw reject(
        "\(field).port.protocol",
        "unknown protocol \"\(proto)\" (expected one of \(Self.protocols.sorted().joined(separator: ", ")))")
    }
    let hosts = try strings(members["hosts"], "\(field).hosts", required: true)
    for (index, host) in hosts.enumerated() {
      let parts = host.split(separator: "/", omittingEmptySubsequences: false)
      guard parts.count <= 2, !parts.contains(where: \.isEmpty) else {
        throw reject("\(field).hosts[\(index)]", "expected HOST or NAMESPACE/HOST, found \"\(host)\"")
      }
    }
    let bind = try optionalString(members["bind"], "\(field).bind") ?? ""
    if !bind.isEmpty, IPAddress(bind) == nil {
      throw reject("\(field).bind", "expected an IP address, found \"\(bind)\"")
    }
    var mode: GatewayTLSMode?
    if let tls = members["tls"], tls != .null {
      let tlsMembers = try object(tls, "\(field).tls")
      // Istio's TLSmode enum starts with PASSTHROUGH = 0: a tls block without a mode is passthrough.
      let text = try optionalString(tlsMembers["mode"], "\(field).tls.mode") ?? GatewayTLSMode.passthrough.rawValue
      guard let parsed = GatewayTLSMode(rawValue: text) else {
        throw reject(
          "\(field).tls.mode",
          "unknown mode \"\(text)\" (expected one of \(GatewayTLSMode.allCases.map(\.rawValue).joined(separator: ", ")))"
        )
      }
      mode = parsed
    }
    if (proto == "TLS" || proto == "HTTPS") && mode == nil {
      throw reject("\(field).tls", "is required for protocol \(proto)")
    }
    if mode == .autoPassthrough && proto != "TLS" {
      throw reject("\(field).tls.mode", "AUTO_PASSTHROUGH needs port protocol TLS, found \(proto)")
    }
    return GatewayServer(port: number, portName: name, protocol: proto, hosts: hosts, bind: bind, tlsMode: mode)
  }

  // MARK: VirtualService

  mutating func virtualService(_ spec: ConfigValue?, options: RegistryOptions) throws(ConfigRejection)
    -> VirtualServiceConfig
  {
    let members = try object(spec, "spec")
    // Short names are Services in the VirtualService's namespace, as for destinations (wildcards stay as written).
    let hosts = try strings(members["hosts"], "spec.hosts", required: true).map { host in
      host.hasPrefix("*") ? host : qualifiedHost(host, options: options)
    }
    let gateways = try strings(members["gateways"], "spec.gateways", required: false).map(qualifiedGateway)
    var routes: [TLSRoute] = []
    for (index, item) in try list(members["tls"], "spec.tls", required: false).enumerated() {
      routes.append(try tlsRoute(item, "spec.tls[\(index)]", options: options))
    }
    return VirtualServiceConfig(
      name: key.name, namespace: key.namespace, cluster: cluster, hosts: hosts, gateways: gateways, tlsRoutes: routes)
  }

  /// `name` and `./name` → `NAMESPACE/name`; the legacy `name.ns[.…]` → `ns/name` (as istiod reads it); `mesh` and
  /// `namespace/name` stay.
  func qualifiedGateway(_ name: String) -> String {
    if name == "mesh" { return name }
    if name.hasPrefix("./") { return "\(key.namespace)/\(name.dropFirst(2))" }
    if name.contains("/") { return name }
    let labels = name.split(separator: ".", omittingEmptySubsequences: false)
    if labels.count >= 2 { return "\(labels[1])/\(labels[0])" }
    return "\(key.namespace)/\(name)"
  }

  func tlsRoute(_ value: ConfigValue, _ field: String, options: RegistryOptions) throws(ConfigRejection) -> TLSRoute {
    let members = try object(value, field)
    var matches: [TLSRoute.Match] = []
    for (index, item) in try list(members["match"], "\(field).match", required: true).enumerated() {
      let matchField = "\(field).match[\(index)]"
      let match = try object(item, matchField)
      matches.append(
        TLSRoute.Match(
          sniHosts: try sniHosts(match["sniHosts"], "\(matchField).sniHosts"),
          port: try optionalInteger(match["port"], "\(matchField).port", in: 1...65535),
          gateways: try strings(match["gateways"], "\(matchField).gateways", required: false).map(qualifiedGateway)
        ))
    }
    var destinations: [RouteDestination] = []
    for (index, item) in try list(members["route"], "\(field).route", required: true).enumerated() {
      let routeField = "\(field).route[\(index)]"
      let route = try object(item, routeField)
      let destination = try object(route["destination"], "\(routeField).destination")
      let host = try string(destination["host"], "\(routeField).destination.host")
      var port: Int?
      if let portValue = destination["port"], portValue != .null {
        let portMembers = try object(portValue, "\(routeField).destination.port")
        port = try integer(portMembers["number"], "\(routeField).destination.port.number", in: 1...65535)
      }
      let weight = try optionalInteger(route["weight"], "\(routeField).weight", in: 0...100) ?? 0
      destinations.append(RouteDestination(host: qualifiedHost(host, options: options), port: port, weight: weight))
    }
    // One destination takes every connection whatever its weight; several share them by weight, so some must count.
    if destinations.count > 1 && destinations.allSatisfy({ $0.weight == 0 }) {
      throw reject("\(field).route", "\(destinations.count) destinations and no weight above 0: give each its share")
    }
    return TLSRoute(matches: matches, destinations: destinations)
  }

  /// `sniHosts`: each `*`, `*.DOMAIN` or a DNS name (Envoy accepts no other server name), lower-cased, without
  /// duplicates.
  func sniHosts(_ value: ConfigValue?, _ field: String) throws(ConfigRejection) -> [String] {
    var result: [String] = []
    for (index, host) in try strings(value, field, required: true).enumerated() {
      let lowered = host.lowercased()
      let name = lowered.hasPrefix("*.") ? String(lowered.dropFirst(2)) : lowered
      guard lowered == "*" || Self.isDNSName(name) else {
        throw reject("\(field)[\(index)]", "expected *, *.DOMAIN or a DNS name, found \"\(host)\"")
      }
      if !result.contains(lowered) { result.append(lowered) }
    }
    return result
  }

  /// Letters, digits and hyphens in dot-separated labels of 1-63 characters, at most 253 in all.
  static func isDNSName(_ name: String) -> Bool {
    guard !name.isEmpty, name.utf8.count <= 253 else { return false }
    return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
      !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
        && label.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
  }

  /// A short name (no dot) is a Service in the VirtualService's namespace; anything else is taken as written.
  func qualifiedHost(_ host: String, options: RegistryOptions) -> String {
    host.contains(".") ? host : options.hostname(name: host, namespace: key.namespace)
  }
}
