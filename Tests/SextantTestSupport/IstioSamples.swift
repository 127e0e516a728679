/// Istio's own sample manifests, shared by the tests that parse and generate gateway config.
public enum IstioSamples {
  /// samples/multicluster/expose-istiod.yaml: the control plane reached through the east-west gateway.
  public static let exposeIstiod = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata:
      name: istiod-gateway
      namespace: istio-system
    spec:
      selector:
        istio: eastwestgateway
      servers:
        - port:
            name: tls-istiod
            number: 15012
            protocol: tls
          tls:
            mode: PASSTHROUGH
          hosts:
            - "*"
        - port:
            name: tls-istiodwebhook
            number: 15017
            protocol: tls
          tls:
            mode: PASSTHROUGH
          hosts:
            - "*"
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata:
      name: istiod-vs
      namespace: istio-system
    spec:
      hosts:
      - "*"
      gateways:
      - istiod-gateway
      tls:
      - match:
        - port: 15012
          sniHosts:
          - "*"
        route:
        - destination:
            host: istiod.istio-system.svc.cluster.local
            port:
              number: 15012
      - match:
        - port: 15017
          sniHosts:
          - "*"
        route:
        - destination:
            host: istiod.istio-system.svc.cluster.local
            port:
              number: 443
    """

  /// samples/multicluster/expose-services.yaml: the cross-network gateway (AUTO_PASSTHROUGH on 15443, hosts
  /// `*.local`).
  public static let crossNetwork = """
    apiVersion: networking.istio.io/v1beta1
    kind: Gateway
    metadata:
      name: cross-network-gateway
      namespace: istio-system
    spec:
      selector:
        istio: eastwestgateway
      servers:
        - port:
            number: 15443
            name: tls
            protocol: TLS
          tls:
            mode: AUTO_PASSTHROUGH
          hosts:
            - "*.local"
    """
}
