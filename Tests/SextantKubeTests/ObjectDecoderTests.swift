import Foundation
import SextantKube
import Testing

@Suite("ObjectDecoder: recorded objects")
struct ObjectDecoderTests {
  @Test func endpointSliceV1AsTheAPIReturnsIt() throws {
    let file = try Fixture.decode("endpointslice-v1.json")
    #expect(file.skipped.isEmpty)
    guard case .endpointSlice(let slice) = try #require(file.objects.first), file.objects.count == 1 else {
      Issue.record("expected one EndpointSlice, got \(file.objects)")
      return
    }
    #expect(slice.metadata.name == "helloworld-7xk2p")
    #expect(slice.metadata.namespace == "sample")
    #expect(slice.metadata.resourceVersion == "184467")
    #expect(slice.serviceName == "helloworld")
    #expect(slice.addressType == "IPv4")
    #expect(slice.ports == [EndpointSlice.Port(name: "http", protocol: "TCP", port: 5000)])
    let endpoints = try #require(slice.endpoints)
    #expect(endpoints.count == 2)
    #expect(endpoints[0].addresses == ["10.244.1.12"])
    #expect(endpoints[0].conditions == EndpointSlice.Conditions(ready: true, serving: true, terminating: false))
    #expect(endpoints[0].nodeName == "cluster1-worker")
    #expect(endpoints[0].zone == "us-east-1a")
    #expect(endpoints[0].targetRef?.name == "helloworld-v1-6bb5b589d6-8m7xq")
    #expect(endpoints[0].targetRef?.kind == "Pod")
    #expect(endpoints[0].topology == nil)
    #expect(endpoints[1].conditions?.terminating == true)
    #expect(endpoints[1].zone == "us-east-1b")
    #expect(file.objects.first?.key == ObjectKey(kind: .endpointSlice, namespace: "sample", name: "helloworld-7xk2p"))
  }

  @Test func endpointSliceV1beta1KeepsTopologyAndFillsZoneAndNode() throws {
    let file = try Fixture.decode("endpointslice-v1beta1.yaml")
    guard case .endpointSlice(let slice) = try #require(file.objects.first) else {
      Issue.record("expected an EndpointSlice, got \(file.objects)")
      return
    }
    #expect(slice.metadata.name == "reviews-x8w2n")
    #expect(slice.serviceName == "reviews")
    let endpoints = try #require(slice.endpoints)
    #expect(endpoints.count == 2)
    #expect(endpoints[0].addresses == ["10.48.2.15"])
    #expect(endpoints[0].topology?["topology.kubernetes.io/region"] == "us-central1")
    #expect(endpoints[0].zone == "us-central1-a")
    #expect(endpoints[0].nodeName == "gke-cluster2-default-pool-1a2b3c4d-x9z8")
    // A nodeName that is set wins over topology's hostname.
    #expect(endpoints[1].nodeName == "gke-cluster2-default-pool-1a2b3c4d-q7r6")
    #expect(endpoints[1].zone == "us-central1-b")
    #expect(endpoints[1].conditions?.ready == false)
    #expect(slice.ports?.first?.port == 9080)
  }

  @Test func endpointsWithNotReadyAddresses() throws {
    let file = try Fixture.decode("endpoints-not-ready.json")
    guard case .endpoints(let endpoints) = try #require(file.objects.first) else {
      Issue.record("expected Endpoints, got \(file.objects)")
      return
    }
    #expect(endpoints.metadata.name == "helloworld")
    let subset = try #require(endpoints.subsets?.first)
    #expect(subset.addresses?.map(\.ip) == ["10.244.1.12"])
    #expect(subset.addresses?.first?.nodeName == "cluster1-worker")
    #expect(subset.notReadyAddresses?.map(\.ip) == ["10.244.2.7"])
    #expect(subset.notReadyAddresses?.first?.targetRef?.name == "helloworld-v2-7f5d9c8b4-zq4wd")
    #expect(subset.ports == [Endpoints.Port(name: "http", port: 5000, protocol: "TCP")])
  }

  @Test func serviceWithTargetPortByName() throws {
    let file = try Fixture.decode("service-named-target-port.yaml")
    guard case .service(let service) = try #require(file.objects.first) else {
      Issue.record("expected a Service, got \(file.objects)")
      return
    }
    #expect(service.metadata.name == "helloworld")
    #expect(service.metadata.namespace == "sample")
    #expect(service.metadata.labels == ["app": "helloworld", "service": "helloworld"])
    #expect(
      service.metadata.annotations?["kubectl.kubernetes.io/last-applied-configuration"]?.hasPrefix("{\"apiVersion\"")
        == true)
    #expect(service.spec.type == "ClusterIP")
    #expect(service.spec.clusterIP == "10.96.142.17")
    #expect(service.spec.clusterIPs == ["10.96.142.17"])
    #expect(service.spec.selector == ["app": "helloworld"])
    #expect(
      service.spec.ports == [
        KubeService.Port(name: "http", protocol: "TCP", port: 5000, targetPort: .string("http-web")),
        KubeService.Port(
          name: "grpc-admin", protocol: "TCP", port: 15010, targetPort: .int(15010), appProtocol: "grpc"),
      ])
    #expect(service.status == KubeService.Status(loadBalancer: KubeService.LoadBalancer()))
  }

  @Test func pod() throws {
    let file = try Fixture.decode("pod.json")
    guard case .pod(let pod) = try #require(file.objects.first) else {
      Issue.record("expected a Pod, got \(file.objects)")
      return
    }
    #expect(pod.metadata.name == "helloworld-v1-6bb5b589d6-8m7xq")
    #expect(pod.metadata.labels?["security.istio.io/tlsMode"] == "istio")
    #expect(pod.metadata.labels?["topology.istio.io/network"] == "network1")
    #expect(pod.metadata.annotations?["sidecar.istio.io/status"]?.contains("\"istio-proxy\"") == true)
    #expect(pod.spec == Pod.Spec(nodeName: "cluster1-worker", serviceAccountName: "helloworld"))
    #expect(pod.status?.phase == "Running")
    #expect(pod.status?.podIP == "10.244.1.12")
    #expect(pod.status?.podIPs == [Pod.PodIP(ip: "10.244.1.12"), Pod.PodIP(ip: "fd00:10:244:1::c")])
  }

  @Test func nodeWithTopologyLabels() throws {
    let file = try Fixture.decode("node.yaml")
    guard case .node(let node) = try #require(file.objects.first) else {
      Issue.record("expected a Node, got \(file.objects)")
      return
    }
    #expect(node.metadata.name == "cluster1-worker")
    #expect(node.metadata.namespace == nil)
    #expect(node.metadata.labels?["topology.kubernetes.io/region"] == "us-east-1")
    #expect(node.metadata.labels?["topology.kubernetes.io/zone"] == "us-east-1a")
    #expect(node.metadata.labels?["topology.istio.io/subzone"] == "rack-7")
    #expect(
      node.status?.addresses == [
        Node.Address(type: "InternalIP", address: "172.18.0.3"),
        Node.Address(type: "Hostname", address: "cluster1-worker"),
      ])
    #expect(file.objects.first?.key == ObjectKey(kind: .node, namespace: "", name: "cluster1-worker"))
  }

  @Test func kubectlListUnpacksItemsAndSkipsUnwatchedKinds() throws {
    let file = try Fixture.decode("list.yaml")
    #expect(
      file.objects.map(\.key) == [
        ObjectKey(kind: .service, namespace: "bookinfo", name: "ratings"),
        ObjectKey(kind: .endpointSlice, namespace: "bookinfo", name: "ratings-5l9cd"),
      ])
    #expect(
      file.skipped == [
        SkippedObject(apiVersion: "v1", kind: "ConfigMap", namespace: "bookinfo", name: "istio-ca-root-cert", line: 41)
      ])
  }

  @Test func typedListFromTheAPIGivesItemsTheirKind() throws {
    let file = try Fixture.decode("servicelist.json")
    #expect(
      file.objects.map(\.key) == [
        ObjectKey(kind: .service, namespace: "default", name: "kubernetes"),
        ObjectKey(kind: .service, namespace: "istio-system", name: "istio-eastwestgateway"),
      ])
    guard case .service(let gateway) = file.objects.last else { return }
    #expect(gateway.status?.loadBalancer?.ingress == [KubeService.Ingress(ip: "172.18.255.200")])
    #expect(gateway.spec.ports?.first?.nodePort == 31443)
    // JSON escapes: \u00e9, a surrogate pair, \u003c and \/.
    #expect(gateway.metadata.annotations?["note"] == "café 🚀 <b> a/b")
  }

  @Test func multiDocumentYAML() throws {
    let file = try Fixture.decode("multi-document.yaml")
    #expect(
      file.objects.map(\.key) == [
        ObjectKey(kind: .namespace, namespace: "", name: "sample"),
        ObjectKey(kind: .service, namespace: "sample", name: "helloworld"),
        ObjectKey(kind: .endpointSlice, namespace: "sample", name: "helloworld-manual"),
      ])
    #expect(
      file.skipped == [
        SkippedObject(apiVersion: "apps/v1", kind: "Deployment", namespace: "sample", name: "helloworld-v1", line: 25),
        SkippedObject(apiVersion: "v1", kind: "ConfigMap", namespace: "istio-system", name: "istio", line: 40),
      ])
    #expect(file.skipped.first?.description == "apps/v1 Deployment sample/helloworld-v1 at line 25")
    guard case .service(let service) = file.objects[1], case .endpointSlice(let slice) = file.objects[2] else {
      Issue.record("unexpected objects \(file.objects)")
      return
    }
    #expect(service.spec.ports == [KubeService.Port(name: "http", port: 5000)])
    #expect(slice.endpoints == [EndpointSlice.Endpoint(addresses: ["10.244.1.12"], conditions: .init(ready: true))])
  }

  @Test func unknownKindsAndVersionsAreSkippedNotRejected() throws {
    let file = try ObjectDecoder().decode(
      """
      apiVersion: networking.istio.io/v1
      kind: DestinationRule
      metadata: {name: reviews}
      spec: {host: reviews, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
      ---
      apiVersion: v2
      kind: Service
      metadata:
        name: future
      ---
      apiVersion: discovery.k8s.io/v1alpha1
      kind: EndpointSlice
      metadata: {}
      ---
      apiVersion: networking.istio.io/v2
      kind: Gateway
      metadata: {name: next}
      """, path: "mixed.yaml")
    #expect(file.objects.isEmpty)
    #expect(file.skipped.map(\.kind) == ["DestinationRule", "Service", "EndpointSlice", "Gateway"])
    #expect(file.skipped.map(\.line) == [1, 6, 11, 15])
    #expect(file.skipped.map(\.name) == ["reviews", "future", nil, "next"])
  }

  @Test func istioObjectsKeepTheirSpecUnchecked() throws {
    let file = try ObjectDecoder().decode(
      """
      apiVersion: networking.istio.io/v1
      kind: VirtualService
      metadata: {name: reviews, namespace: sample}
      spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, port: {number: "not checked"}}}]}]}
      ---
      apiVersion: networking.istio.io/v1alpha3
      kind: Gateway
      metadata: {name: cross-network-gateway, namespace: istio-system}
      spec: {selector: {istio: eastwestgateway}, servers: [{port: {number: 15443}, hosts: ["*.local"]}]}
      """, path: "istio.yaml")
    #expect(file.skipped.isEmpty)
    guard case .virtualService(let virtualService) = file.objects.first, case .gateway(let gateway) = file.objects.last
    else {
      Issue.record("unexpected objects \(file.objects)")
      return
    }
    #expect(virtualService.metadata.namespace == "sample")
    guard case .array(let routes)? = virtualService.spec?["http"] else {
      Issue.record("no http routes in \(String(describing: virtualService.spec))")
      return
    }
    guard case .array(let destinations)? = routes.first?["route"] else {
      Issue.record("no route")
      return
    }
    #expect(destinations.first?["destination"]?["port"]?["number"] == .string("not checked"))
    #expect(gateway.spec?["selector"] == .object(["istio": .string("eastwestgateway")]))
  }

  @Test func emptyAndCommentOnlyFilesHoldNothing() throws {
    #expect(try ObjectDecoder().decode("", path: "empty.yaml") == DecodedFile())
    #expect(try ObjectDecoder().decode("# nothing yet\n---\n...\n", path: "comments.yaml") == DecodedFile())
    #expect(try ObjectDecoder().decode("  \n", path: "empty.json") == DecodedFile())
  }

  @Test func jsonStreamOfObjects() throws {
    let file = try ObjectDecoder().decode(
      """
      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}
      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}
      """, path: "namespaces.json")
    #expect(file.objects.map(\.key.name) == ["a", "b"])
  }

  @Test func yamlScalarsAreTypedAsKubernetesTypesThem() throws {
    let file = try ObjectDecoder().decode(
      """
      base: &base
        protocol: TCP
      apiVersion: v1
      kind: Service
      metadata:
        name: typed
        labels: {version: "1.10", enabled: "true"}
      spec:
        clusterIP: None
        ports:
        - <<: *base
          name: hex
          port: 0x50
          targetPort: 8_080
        - port: 443
          targetPort: "https"
      """, path: "typed.yaml")
    guard case .service(let service) = try #require(file.objects.first) else { return }
    #expect(service.metadata.labels == ["version": "1.10", "enabled": "true"])
    #expect(service.spec.clusterIP == "None")
    #expect(
      service.spec.ports == [
        KubeService.Port(name: "hex", protocol: "TCP", port: 80, targetPort: .int(8080)),
        KubeService.Port(port: 443, targetPort: .string("https")),
      ])
  }

  @Test func decodeFileReadsFromDisk() throws {
    let file = try ObjectDecoder().decodeFile(atPath: try Fixture.url("node.yaml").path)
    #expect(file.objects.map(\.key.name) == ["cluster1-worker"])
    let missing = "/nonexistent/sextant/objects.yaml"
    do {
      _ = try ObjectDecoder().decodeFile(atPath: missing)
      Issue.record("a missing file decoded")
    } catch {
      #expect(error.code == .unreadable)
      #expect(error.description == "\(missing): No such file or directory")
    }
  }
}
