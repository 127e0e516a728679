import Foundation
import SextantKube
import Testing

@testable import SextantKubeClient

@Suite("Decoding list, discovery and status responses")
struct ListDecodingTests {
  private func page<T: Decodable & Sendable>(_ name: String, as type: T.Type) throws -> ListPage<T> {
    try JSONDecoder().decode(ListPage<T>.self, from: Data(try Fixture.bytes(name)))
  }

  private func items<T>(_ page: ListPage<T>) throws -> [T] {
    try (page.items ?? []).map { try $0.value.get() }
  }

  @Test("a discovery.k8s.io/v1 EndpointSliceList (1.29) decodes, managed fields and all")
  func endpointSlicesV1() throws {
    let page = try page("endpointslices-v1.json", as: EndpointSlice.self)
    #expect(page.metadata?.resourceVersion == "48213")
    #expect(page.metadata?.continue?.hasPrefix("eyJ2Ijoi") == true)
    let slices = try items(page)
    #expect(slices.map(\.metadata.name) == ["kubernetes", "helloworld-7f9ws"])
    let hello = slices[1]
    #expect(hello.serviceName == "helloworld")
    #expect(hello.metadata.namespace == "sample")
    #expect(hello.addressType == "IPv4")
    #expect(hello.ports == [EndpointSlice.Port(name: "http", protocol: "TCP", port: 5000, appProtocol: "http")])
    let endpoints = try #require(hello.endpoints)
    #expect(endpoints.map(\.addresses) == [["10.244.1.7"], ["10.244.2.9"]])
    #expect(endpoints.map(\.zone) == ["eu-west-1a", "eu-west-1b"])
    #expect(endpoints.map(\.nodeName) == ["kind-worker", "kind-worker2"])
    #expect(endpoints[1].conditions == EndpointSlice.Conditions(ready: false, serving: true, terminating: true))
    #expect(endpoints[0].targetRef?.name == "helloworld-v1-5b8f7d6c9d-x2x6q")
  }

  @Test("a v1beta1 EndpointSliceList recorded from kube-apiserver 1.20.2 decodes and converts topology")
  func endpointSlicesV1beta1() throws {
    let page = try page("endpointslices-v1beta1.json", as: EndpointSlice.self)
    #expect(page.metadata?.resourceVersion == "195")
    #expect(page.metadata?.continue?.isEmpty == false)
    let slices = try items(page).map(EndpointSliceSource.converted)
    #expect(slices.map(\.metadata.name) == ["helloworld-0", "helloworld-1"])
    let endpoint = try #require(slices[0].endpoints?.first)
    #expect(endpoint.zone == "zone-a")
    #expect(endpoint.nodeName == "node-a")
    #expect(endpoint.topology?["kubernetes.io/hostname"] == "node-a")

    let last = try self.page("endpointslices-v1beta1-page2.json", as: EndpointSlice.self)
    #expect(last.metadata?.continue == nil)
    #expect(try items(last).map(\.metadata.name) == ["helloworld-2"])
  }

  @Test(
    "our decoding agrees with SextantKube's ObjectDecoder on the same lists",
    arguments: ["endpointslices-v1.json", "endpointslices-v1beta1.json"])
  func agreesWithObjectDecoder(file: String) throws {
    let bytes = try Fixture.bytes(file)
    let ours = try items(try page(file, as: EndpointSlice.self)).map {
      KubeObject.endpointSlice(EndpointSliceSource.converted($0))
    }
    let theirs = try ObjectDecoder().decode(bytes, path: file, format: .json)
    #expect(theirs.objects == ours)
  }

  @Test("an item that does not decode is left out and named, the rest of the list is kept")
  func lenientItems() throws {
    let json = """
      {"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[
        {"metadata":{"name":"good","namespace":"a"},"spec":{"ports":[{"port":80}]}},
        {"metadata":{"name":"bad","namespace":"a"},"spec":{"ports":[{"port":"http"}]}}]}
      """
    let page = try JSONDecoder().decode(ListPage<KubeService>.self, from: Data(json.utf8))
    let values = try #require(page.items)
    #expect(try values[0].value.get().metadata.name == "good")
    guard case .failure(let skipped) = values[1].value else {
      Issue.record("the bad item decoded")
      return
    }
    #expect(skipped.name == "bad")
    #expect(skipped.namespace == "a")
    #expect(skipped.reason.hasPrefix("spec.ports[0].port: expected"))
  }

  @Test(
    "recorded GatewayLists (networking.istio.io v1 and v1beta1) decode: the expose-istiod and cross-network samples",
    arguments: ["gateways-v1.json", "gateways-v1beta1.json"])
  func gateways(file: String) throws {
    let page = try page(file, as: IstioGateway.self)
    #expect(page.metadata?.resourceVersion == "202")
    let gateways = try items(page)
    #expect(
      gateways.map(\.informerKey.description) == [
        "istio-system/cross-network-gateway", "istio-system/istiod-gateway",
      ])
    let crossNetwork = try #require(gateways[0].spec)
    #expect(crossNetwork["selector"] == .object(["istio": .string("eastwestgateway")]))
    #expect(
      crossNetwork["servers"]
        == .array([
          .object([
            "hosts": .array([.string("*.local")]),
            "port": .object(["name": .string("tls"), "number": .number(15443), "protocol": .string("TLS")]),
            "tls": .object(["mode": .string("AUTO_PASSTHROUGH")]),
          ])
        ]))
    let istiod = try #require(gateways[1].spec)
    #expect(istiod["selector"] == .object(["istio": .string("eastwestgateway")]))
    guard case .array(let servers)? = istiod["servers"] else {
      Issue.record("no servers")
      return
    }
    #expect(servers.map { $0["port"]?["number"] } == [.number(15012), .number(15017)])
    #expect(servers.map { $0["tls"]?["mode"] } == [.string("PASSTHROUGH"), .string("PASSTHROUGH")])
    #expect(servers.map { $0["hosts"] } == [.array([.string("*")]), .array([.string("*")])])
  }

  @Test(
    "recorded VirtualServiceLists (v1 and v1beta1) decode: istiod-vs routes TLS on 15012 and 15017 to istiod",
    arguments: ["virtualservices-v1.json", "virtualservices-v1beta1.json"])
  func virtualServices(file: String) throws {
    let virtualServices = try items(try page(file, as: IstioVirtualService.self))
    #expect(virtualServices.map(\.informerKey.description) == ["istio-system/istiod-vs"])
    let spec = try #require(virtualServices.first?.spec)
    #expect(spec["hosts"] == .array([.string("*")]))
    #expect(spec["gateways"] == .array([.string("istiod-gateway")]))
    guard case .array(let routes)? = spec["tls"] else {
      Issue.record("no tls routes")
      return
    }
    func route(_ port: Double, to destination: Double) -> ConfigValue {
      .object([
        "match": .array([.object(["port": .number(port), "sniHosts": .array([.string("*")])])]),
        "route": .array([
          .object([
            "destination": .object([
              "host": .string("istiod.istio-system.svc.cluster.local"),
              "port": .object(["number": .number(destination)]),
            ])
          ])
        ]),
      ])
    }
    #expect(routes == [route(15012, to: 15012), route(15017, to: 443)])
  }

  @Test(
    "our decoding of Istio lists agrees with SextantKube's ObjectDecoder",
    arguments: ["gateways-v1.json", "gateways-v1beta1.json", "virtualservices-v1.json", "virtualservices-v1beta1.json"])
  func istioAgreesWithObjectDecoder(file: String) throws {
    let ours: [KubeObject] =
      file.hasPrefix("gateways")
      ? try items(try page(file, as: IstioGateway.self)).map { .gateway($0) }
      : try items(try page(file, as: IstioVirtualService.self)).map { .virtualService($0) }
    let theirs = try ObjectDecoder().decode(try Fixture.bytes(file), path: file, format: .json)
    #expect(ours.count > 0)
    #expect(theirs.objects == ours)
  }

  @Test("a Gateway whose name is missing or not a string is left out, named by its index and field")
  func undecodableGateway() throws {
    let json = """
      {"kind":"GatewayList","apiVersion":"networking.istio.io/v1","metadata":{"resourceVersion":"9"},"items":[
        {"metadata":{"name":"good","namespace":"istio-system"},"spec":{"servers":"anything goes"}},
        {"metadata":{"namespace":"istio-system"},"spec":{}},
        {"metadata":{"name":7,"namespace":"sample"}},
        {"metadata":{"name":"no-spec","namespace":"sample"}}]}
      """
    let values = try #require(try JSONDecoder().decode(ListPage<IstioGateway>.self, from: Data(json.utf8)).items)
    #expect(try values[0].value.get().spec == .object(["servers": .string("anything goes")]))
    #expect(try values[3].value.get().spec == nil)
    guard case .failure(let missing) = values[1].value, case .failure(let wrongType) = values[2].value else {
      Issue.record("a bad item decoded")
      return
    }
    #expect(
      missing
        == SkippedItem(
          namespace: "istio-system", name: nil, index: 1, reason: "metadata.name: required field is missing"))
    #expect(missing.description == "istio-system (item 1): metadata.name: required field is missing")
    #expect(wrongType.index == 2)
    #expect(wrongType.namespace == "sample")
    #expect(wrongType.name == nil)
    #expect(wrongType.reason.hasPrefix("metadata.name: expected String"))
    #expect(
      SkippedItem(namespace: nil, name: nil, index: 4, reason: "metadata: expected a mapping").description
        == "item 4: metadata: expected a mapping")
    #expect(SkippedItem(namespace: "a", name: "b", reason: "r").description == "a/b: r")
  }

  @Test("Services and EndpointSlices with a port outside 1-65535 are left out alone, naming the field")
  func portsOutOfRange() throws {
    let services = """
      {"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[
        {"metadata":{"name":"good","namespace":"sample"},"spec":{"ports":[{"port":5000,"targetPort":5000}]}},
        {"metadata":{"name":"oversized","namespace":"sample"},"spec":{"ports":[{"port":70000}]}},
        {"metadata":{"name":"negative","namespace":"sample"},"spec":{"ports":[{"port":80},{"port":-1}]}},
        {"metadata":{"name":"target","namespace":"sample"},"spec":{"ports":[{"port":80,"targetPort":65536}]}},
        {"metadata":{"name":"node","namespace":"sample"},"spec":{"ports":[{"port":80,"nodePort":-30000}]}},
        {"metadata":{"name":"named","namespace":"sample"},"spec":{"ports":[{"port":80,"targetPort":"http"}]}}]}
      """
    let page = try JSONDecoder().decode(ListPage<KubeService>.self, from: Data(services.utf8))
    let values = try #require(page.items).map(\.value)
    #expect(try values[0].get().metadata.name == "good")
    #expect(try values[5].get().metadata.name == "named")
    let skipped = values.compactMap { value -> String? in
      guard case .failure(let item) = value else { return nil }
      return item.description
    }
    #expect(
      skipped == [
        "sample/oversized (item 1): spec.ports[0].port: port 70000 is not between 1 and 65535",
        "sample/negative (item 2): spec.ports[1].port: port -1 is not between 1 and 65535",
        "sample/target (item 3): spec.ports[0].targetPort: port 65536 is not between 1 and 65535",
        "sample/node (item 4): spec.ports[0].nodePort: port -30000 is not between 1 and 65535",
      ])

    let slices = """
      {"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"9"},"items":[
        {"metadata":{"name":"bad","namespace":"sample"},"endpoints":[{"addresses":["10.0.0.1"]}],
         "ports":[{"name":"http","port":99999}]},
        {"metadata":{"name":"good","namespace":"sample"},"endpoints":[{"addresses":["10.0.0.2"]}],
         "ports":[{"name":"http","port":8080}]}]}
      """
    let slicePage = try JSONDecoder().decode(ListPage<EndpointSlice>.self, from: Data(slices.utf8))
    let sliceValues = try #require(slicePage.items).map(\.value)
    guard case .failure(let bad) = sliceValues[0] else {
      Issue.record("an EndpointSlice with port 99999 decoded")
      return
    }
    #expect(bad.description == "sample/bad (item 0): ports[0].port: port 99999 is not between 1 and 65535")
    #expect(try sliceValues[1].get().ports?.first?.port == 8080)
  }

  @Test("an APIResourceList tells which resources are served")
  func discovery() throws {
    let list = try JSONDecoder().decode(
      APIResourceList.self, from: Data(try Fixture.bytes("apiresourcelist-discovery-v1beta1.json")))
    #expect(list.groupVersion == "discovery.k8s.io/v1beta1")
    #expect(list.serves("endpointslices"))
    #expect(!list.serves("endpoints"))
    let istio = try JSONDecoder().decode(
      APIResourceList.self, from: Data(try Fixture.bytes("apiresourcelist-networking-istio-io-v1.json")))
    #expect(istio.groupVersion == "networking.istio.io/v1")
    #expect(istio.serves("gateways"))
    #expect(istio.serves("virtualservices"))
    #expect(!istio.serves("destinationrules"))
    let readOnlyStatus = APIResourceList(resources: [.init(name: "things", verbs: ["get"])])
    #expect(!readOnlyStatus.serves("things"))
  }

  @Test("the API server's Status body decodes")
  func status() throws {
    let status = try JSONDecoder().decode(KubeStatus.self, from: Data(try Fixture.bytes("status-404.json")))
    #expect(status.code == 404)
    #expect(status.reason == "NotFound")
    #expect(status.description == "404 NotFound: the server could not find the requested resource")
  }
}
