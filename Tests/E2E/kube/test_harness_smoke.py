"""Smoke test of the real-Kubernetes harness: one etcd, two kube-apiserver 1.20.2 sharing it under different prefixes.

The first run builds kube-apiserver through Scripts/kube-apiserver.sh when its cache is empty (~6.5 minutes).
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
import urllib.error
import urllib.request

import pytest

from .harness import KUBE_VERSION, ApiError, ApiServer, Etcd, HarnessError, kube_apiserver_binary, wait_for

NS = "sample"


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory):
    with Etcd(workdir=tmp_path_factory.mktemp("etcd")) as server:
        yield server


@pytest.fixture(scope="module")
def apiserver_binary():
    return kube_apiserver_binary()  # builds on the first run


def _start(etcd: Etcd, name: str, tmp_path_factory: pytest.TempPathFactory, binary) -> ApiServer:
    server = ApiServer(etcd, f"/{name}", name, workdir=tmp_path_factory.mktemp(name), binary=binary)
    started = time.monotonic()
    server.start()
    print(f"{name}: ready in {time.monotonic() - started:.2f}s at {server.url} (pid {server.pid})")
    return server


@pytest.fixture(scope="module")
def cluster1(etcd, apiserver_binary, tmp_path_factory):
    with _start(etcd, "cluster1", tmp_path_factory, apiserver_binary) as server:
        yield server


@pytest.fixture(scope="module")
def cluster2(etcd, apiserver_binary, tmp_path_factory):
    with _start(etcd, "cluster2", tmp_path_factory, apiserver_binary) as server:
        yield server


def test_two_servers_share_one_etcd_under_their_prefixes(etcd: Etcd, cluster1: ApiServer, cluster2: ApiServer):
    assert cluster1.url != cluster2.url
    for server in (cluster1, cluster2):
        assert server.version()["gitVersion"] == KUBE_VERSION
        # A pretty-printed answer: the vendored reflect2 1.0.1 crashed the server here ("unexpected fault address").
        text = server.get("/api/v1/namespaces", query={"pretty": "true"}, raw=True)
        assert "\n  " in text and server.alive()
    cluster1.create_namespace("only-in-cluster1")
    assert "only-in-cluster1" in {n["metadata"]["name"] for n in cluster1.list("v1", "Namespace")}
    assert "only-in-cluster1" not in {n["metadata"]["name"] for n in cluster2.list("v1", "Namespace")}
    assert "/cluster1/namespaces/only-in-cluster1" in etcd.keys("/cluster1/")
    assert not any(key.startswith("/cluster1/") for key in etcd.keys("/cluster2/"))


def test_service_endpointslice_and_pod(cluster1: ApiServer):
    cluster1.create_namespace(NS)
    service = cluster1.apply({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "helloworld", "namespace": NS, "labels": {"app": "helloworld"}},
        "spec": {
            "clusterIP": "10.96.0.10",
            "selector": {"app": "helloworld"},
            "ports": [{"name": "http", "port": 5000, "targetPort": 8080, "protocol": "TCP"}],
        },
    })
    assert service["spec"]["clusterIP"] == "10.96.0.10"
    # apply() again replaces (PUT with the current resourceVersion) and keeps the clusterIP.
    replaced = cluster1.apply({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "helloworld", "namespace": NS, "labels": {"app": "helloworld", "version": "2"}},
        "spec": {"selector": {"app": "helloworld"},
                 "ports": [{"name": "http", "port": 5000, "targetPort": 8080, "protocol": "TCP"}]},
    })
    assert replaced["metadata"]["labels"]["version"] == "2" and replaced["spec"]["clusterIP"] == "10.96.0.10"

    # 1.20 refuses loopback addresses in core v1 Endpoints ...
    with pytest.raises(ApiError) as refused:
        cluster1.create({
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "helloworld", "namespace": NS},
            "subsets": [{"addresses": [{"ip": "127.0.0.2"}], "ports": [{"name": "http", "port": 5001}]}],
        })
    assert refused.value.status == 422 and "loopback" in str(refused.value)
    # ... but EndpointSlices (discovery.k8s.io/v1beta1 only, in 1.20) take them.
    cluster1.apply({
        "apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
        "metadata": {"name": "helloworld-1", "namespace": NS,
                     "labels": {"kubernetes.io/service-name": "helloworld",
                                "endpointslice.kubernetes.io/managed-by": "sextant-e2e"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.2"], "conditions": {"ready": True},
                       "targetRef": {"kind": "Pod", "name": "helloworld-v1", "namespace": NS}}],
        "ports": [{"name": "http", "port": 5001, "protocol": "TCP"}],
    })

    pod = cluster1.apply({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "helloworld-v1", "namespace": NS, "labels": {"app": "helloworld", "version": "v1"}},
        "spec": {"containers": [{"name": "app", "image": "sextant.invalid/helloworld:v1",
                                 "ports": [{"containerPort": 8080}]}]},
    })
    assert pod["status"]["phase"] == "Pending"  # no scheduler, no kubelet
    patched = cluster1.patch_status(pod, {
        "phase": "Running",
        "podIP": "127.0.0.2",
        "podIPs": [{"ip": "127.0.0.2"}],
        "conditions": [{"type": "Ready", "status": "True"}],
    })
    assert patched["status"]["podIP"] == "127.0.0.2"

    assert [s["metadata"]["name"] for s in cluster1.list("v1", "Service", NS)] == ["helloworld"]
    slices = cluster1.list("discovery.k8s.io/v1beta1", "EndpointSlice", NS,
                           labelSelector="kubernetes.io/service-name=helloworld")
    assert [e["addresses"] for e in slices[0]["endpoints"]] == [["127.0.0.2"]]
    pods = cluster1.list("v1", "Pod", NS, labelSelector="app=helloworld")
    assert [(p["metadata"]["name"], p["status"]["podIP"], p["status"]["phase"]) for p in pods] == [
        ("helloworld-v1", "127.0.0.2", "Running")
    ]
    # The discovery/v1 API of later releases is not served by 1.20.
    with pytest.raises(KeyError):
        cluster1.resource("discovery.k8s.io/v1", "EndpointSlice")


def test_multicluster_secret_holds_a_working_kubeconfig(cluster1: ApiServer, cluster2: ApiServer):
    cluster1.create_namespace("istio-system")
    kubeconfig = cluster2.kubeconfig()
    cluster1.apply({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "istio-remote-secret-cluster2", "namespace": "istio-system",
                     "labels": {"istio/multiCluster": "true"},
                     "annotations": {"networking.istio.io/cluster": "cluster2"}},
        "type": "Opaque",
        "stringData": {"cluster2": kubeconfig},
    })
    secrets = cluster1.list("v1", "Secret", "istio-system", labelSelector="istio/multiCluster=true")
    assert [s["metadata"]["name"] for s in secrets] == ["istio-remote-secret-cluster2"]
    stored = base64.b64decode(secrets[0]["data"]["cluster2"]).decode()
    assert stored == kubeconfig

    # Use the kubeconfig the way a remote-cluster client would: its server, CA and token reach cluster2.
    fields = {key: json.loads(value) for key, value in
              re.findall(r"^\s*-?\s*(server|certificate-authority-data|token|current-context): (\".*\")$",
                         stored, re.M)}
    assert fields["server"] == cluster2.url and fields["current-context"] == "cluster2"
    context = ssl.create_default_context(cadata=base64.b64decode(fields["certificate-authority-data"]).decode())
    request = urllib.request.Request(fields["server"] + "/api/v1/namespaces",
                                     headers={"Authorization": f"Bearer {fields['token']}"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        assert json.loads(response.read())["kind"] == "NamespaceList"
    # The limited user's kubeconfig authenticates too, and RBAC refuses it.
    limited = cluster2.kubeconfig(user="limited")
    assert cluster2.limited_token in limited
    with pytest.raises(ApiError) as forbidden:
        cluster2.get("/api/v1/namespaces", token=cluster2.limited_token)
    assert forbidden.value.status == 403 and '"limited"' in str(forbidden.value)


def test_restart_keeps_port_and_data(cluster2: ApiServer):
    cluster2.create_namespace("survivor")
    cluster2.apply({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "kept", "namespace": "survivor"}, "data": {"k": "v"}})
    url, old_pid = cluster2.url, cluster2.pid

    cluster2.stop()
    assert not cluster2.alive()
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        cluster2.get("/readyz", raw=True, timeout=2)

    started = time.monotonic()
    cluster2.start()
    print(f"cluster2: restarted in {time.monotonic() - started:.2f}s")
    assert cluster2.url == url and cluster2.pid != old_pid
    assert cluster2.get("/api/v1/namespaces/survivor/configmaps/kept")["data"] == {"k": "v"}


def test_token_request_for_a_service_account(cluster1: ApiServer):
    cluster1.create_namespace(NS)
    cluster1.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader", "namespace": NS}})
    token = cluster1.service_account_token(NS, "reader")
    assert token.count(".") == 2  # a JWT

    # It authenticates as the service account; RBAC refuses until a Role allows it.
    with pytest.raises(ApiError) as forbidden:
        cluster1.get(f"/api/v1/namespaces/{NS}/pods", token=token)
    assert forbidden.value.status == 403 and "system:serviceaccount:sample:reader" in str(forbidden.value)
    cluster1.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "pod-reader", "namespace": NS},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
    })
    cluster1.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "reader-reads-pods", "namespace": NS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": NS}],
    })
    # The RBAC authorizer learns of new Roles/RoleBindings through its informers: poll until the binding applies.
    listed = wait_for(lambda: cluster1.get(f"/api/v1/namespaces/{NS}/pods", token=token), 10.0,
                      "the RoleBinding to let the service account list pods")
    assert listed["kind"] == "PodList"


def test_etcd_compaction(etcd: Etcd, cluster1: ApiServer):
    before = etcd.revision()
    cluster1.apply({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "bump", "namespace": "default"}, "data": {"at": str(before)}})
    compacted = etcd.compact()
    assert compacted > before
    with pytest.raises(HarnessError, match="compacted"):
        etcd.call("/v3/kv/range", {"key": "Lw==", "revision": str(before)})
    # The API server keeps serving after its store was compacted.
    cluster1.delete({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bump", "namespace": "default"}})
    assert cluster1.delete("/api/v1/namespaces/default/configmaps/bump") is None  # 404 ignored
