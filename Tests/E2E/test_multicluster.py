"""Kubernetes multicluster end to end: `sextant serve --kubeconfig` watches a real kube-apiserver 1.20 (cluster1, the
primary) and every remote cluster named by a remote secret in cluster1's istio-system (cluster2, a second real
kube-apiserver over the same etcd), and a real Envoy sidecar routes to helloworld in both.

One etcd and the two API servers are shared by the module (each takes ~4 s to start); every test uses its own
namespace, service port and Sextant/Envoy processes, and removes its Services, slices and remote secrets afterwards.

Run: .venv/bin/python -m pytest -q Tests/E2E/test_multicluster.py   (after `swift build`; see Docs/development.md)
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from conftest import CLIENT_IP, CLIENT_NODE_ID, WaitTimeout, both_xds_protocols, client_metadata, free_port, wait_until
from multicluster_support import (
    BACKEND_IPS,
    MALFORMED_KUBECONFIG,
    PRIMARY,
    REMOTE,
    Helloworld,
    KubeClusters,
    KubeSextant,
    Traffic,
    apiserver_requests,
    closed_port,
    closed_port_kubeconfig,
    delete_remote_secrets,
    exec_kubeconfig,
    remote_secret,
    start_kube_sextant,
    timed_wait,
    wait_envoy_serving,
)

CONVERGE_LIMIT_SECONDS = 2.0  # endpoint and secret changes must reach Envoy within this
ERROR_STATE_LIMIT_SECONDS = 5.0  # a remote API server going away must show as `error` within this
# After cluster2's API server is back, Sextant's informers reconnect at their next backoff attempt (100 ms doubling,
# +-20%, capped at 30 s). With the ~5-6 s outage below the pending delay is at most ~6.4 s * 1.2, hence this bound.
RECONNECT_LIMIT_SECONDS = 10.0
WATCH_TIMEOUT_SECONDS = 2
REMOTE_TIMEOUT_SECONDS = 3.0  # PILOT_REMOTE_CLUSTER_TIMEOUT in the bad-secret test
# Logged by Sextant when a replacement kubeconfig has synced and taken over (make-before-break); not part of the
# CLI contract, used only to know when the rotation is over.
ROTATION_SWITCHED_LOG = "switched to its new kubeconfig"


# --------------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory):
    clusters = KubeClusters.start(tmp_path_factory.mktemp("kube"))
    try:
        yield clusters
    finally:
        clusters.close()


class Multicluster:
    """One test's view of the shared API servers, plus the per-test processes (stopped by PID at teardown)."""

    def __init__(self, kube: KubeClusters, processes, sextant_bin: Path, start_backend, start_envoy, tmp_path: Path):
        self.kube = kube
        self.c1, self.c2 = kube.c1, kube.c2
        self.processes = processes
        self.sextant_bin = sextant_bin
        self._start_backend = start_backend
        self._start_envoy = start_envoy
        self.tmp_path = tmp_path
        self.apps: list[Helloworld] = []
        self.primary_kubeconfig = kube.c1.write_kubeconfig(tmp_path / "cluster1.kubeconfig")

    def deploy(self, namespace: str, cluster1: dict[str, list[str]], cluster2: dict[str, list[str]],
               backends: list[str]) -> Helloworld:
        """helloworld in `namespace` of both clusters with the given slices, and a backend per version."""
        # The sidecar's outbound listener binds CLIENT_IP:service_port (INTERCEPTION_MODE NONE).
        app = Helloworld(namespace, free_port([CLIENT_IP]), free_port([BACKEND_IPS[v] for v in backends]))
        self.apps.append(app)
        for version in backends:
            self._start_backend(BACKEND_IPS[version], app.backend_port, f"helloworld {version}")
        vip1 = app.deploy(self.c1, cluster1)
        vip2 = app.deploy(self.c2, cluster2)
        assert vip1 != vip2, f"both API servers allocated the same clusterIP {vip1}"
        app.vips = {PRIMARY: vip1, REMOTE: vip2}
        return app

    def put_secret(self, name: str, data: dict[str, str], cluster: str | None = None) -> dict:
        return self.c1.apply(remote_secret(name, data, cluster))

    def delete_secret(self, name: str) -> None:
        self.c1.delete(f"/api/v1/namespaces/istio-system/secrets/{name}", missing_ok=False)

    def start_sextant(self, extra_args=(), env=None, wait_ready: bool = True) -> KubeSextant:
        sextant = start_kube_sextant(self.processes, self.sextant_bin, self.primary_kubeconfig,
                                     extra_args=extra_args, env=env)
        if wait_ready:
            sextant.wait_ready()
        return sextant

    def start_envoy(self, sextant: KubeSextant, app: Helloworld, versions: list[str]):
        envoy = self._start_envoy(sextant, CLIENT_NODE_ID, "client.sample", client_metadata(PRIMARY))
        wait_envoy_serving(envoy, sextant, app, versions)
        return envoy

    def cleanup(self) -> None:
        errors = []
        for extra in self.kube.extra:  # shadow servers a failed test left running
            try:
                extra.close()
            except Exception as error:  # noqa: BLE001
                errors.append(f"closing {extra.name}: {error!r}")
        try:
            self.kube.ensure_running()
        except Exception as error:  # noqa: BLE001
            errors.append(f"restarting an API server: {error!r}")
        for step in [lambda: delete_remote_secrets(self.c1)] + [
            (lambda app=app, server=server: app.remove(server)) for app in self.apps for server in (self.c1, self.c2)
        ]:
            try:
                step()
            except Exception as error:  # noqa: BLE001 - clean up as much as possible
                errors.append(repr(error))
        if errors:
            raise RuntimeError("multicluster cleanup failed: " + "; ".join(errors))


@pytest.fixture
def mc(kube: KubeClusters, processes, sextant_bin, start_backend, start_envoy, tmp_path):
    kube.ensure_running()  # a failed earlier test may have left cluster2 stopped
    delete_remote_secrets(kube.c1)  # left by an earlier test that failed before its cleanup
    processes.add_diagnostic("kube-apiserver cluster1 log tail", lambda: kube.c1.tail(30))
    processes.add_diagnostic("kube-apiserver cluster2 log tail", lambda: kube.c2.tail(30))
    env = Multicluster(kube, processes, sextant_bin, start_backend, start_envoy, tmp_path)
    yield env
    env.cleanup()


def assert_synced(sextant: KubeSextant, ids: list[str], context: str) -> list[dict]:
    clusterz = sextant.clusterz()
    states = {entry["id"]: (entry["state"], entry["has_synced"], entry["reason"]) for entry in clusterz}
    assert sorted(states) == sorted(ids), f"{context}: /debug/clusterz lists {sorted(states)}, expected {sorted(ids)}"
    bad = {i: s for i, s in states.items() if s[0] != "synced" or s[1] is not True}
    assert not bad, f"{context}: clusters not synced in /debug/clusterz: {bad}"
    return clusterz


# --------------------------------------------------------------------------------------------------------------
# 1. Two API servers, one remote secret, both versions served


def test_primary_and_remote_cluster_serve_both_versions(mc: Multicluster, figure):
    app = mc.deploy("mc-basic", {"helloworld-c1": ["v1"]}, {"helloworld-c2": ["v2"]}, backends=["v1", "v2"])
    mc.put_secret("istio-remote-secret-cluster2", {REMOTE: mc.c2.kubeconfig()}, cluster=REMOTE)

    started = time.monotonic()
    sextant = mc.start_sextant()
    figure("seconds from start to /ready 200", round(time.monotonic() - started, 3))

    # Ready means every cluster synced: no waiting here.
    clusterz = assert_synced(sextant, [PRIMARY, REMOTE], "right after /ready answered 200")
    by_id = {entry["id"]: entry for entry in clusterz}
    for cluster in (PRIMARY, REMOTE):
        assert by_id[cluster]["services"] >= 1 and by_id[cluster]["endpoints"] >= 1, by_id[cluster]
    expected = app.expected({PRIMARY: ["v1"], REMOTE: ["v2"]})
    assert sextant.endpoints_of(app.hostname) == expected, "/debug/endpointz right after /ready"
    assert app.api_endpoints(mc.kube.servers) == expected
    for entry in sextant.endpointz()[app.hostname]:
        assert entry["service_port"] == app.service_port, entry

    services = {entry.get("hostname"): entry for entry in sextant.registryz()}
    assert app.hostname in services, f"/debug/registryz lacks {app.hostname}: {sorted(map(str, services))}"
    listed = json.dumps(services[app.hostname])
    for cluster, vip in app.vips.items():
        assert vip in listed, f"/debug/registryz {app.hostname} lacks {cluster}'s clusterIP {vip}: {listed}"

    envoy = mc.start_envoy(sextant, app, ["v1", "v2"])
    traffic = Traffic(app).send_many(40)
    figure("requests per version (40)", traffic.summary())
    assert not traffic.failures, f"failed requests: {traffic.failures}"
    assert traffic.counts["v1"] > 0 and traffic.counts["v2"] > 0, f"not both versions answered: {traffic.summary()}"

    rejected = {k: v for k, v in envoy.stats().items() if k.endswith("update_rejected") and v != "0"}
    assert not rejected, f"envoy rejected updates: {rejected}"
    sextant.wait_sync_status(CLIENT_NODE_ID, {t: "SYNCED" for t in ("cds", "eds", "lds", "rds")})


# --------------------------------------------------------------------------------------------------------------
# 2. Endpoint changes, credential rotation without a gap, secret removal


@both_xds_protocols
def test_runtime_endpoint_changes_secret_rotation_and_removal(mc: Multicluster, figure):
    app = mc.deploy("mc-runtime", {"helloworld-c1": ["v1"]}, {"helloworld-c2": ["v2"]}, backends=["v1", "v2", "v3"])
    secret = "istio-remote-secret-cluster2"
    mc.put_secret(secret, {REMOTE: mc.c2.kubeconfig()}, cluster=REMOTE)
    sextant = mc.start_sextant()
    envoy = mc.start_envoy(sextant, app, ["v1", "v2"])
    watched = [sextant.process, envoy.process]

    # Add v3 (127.0.0.4) to cluster2's slice: Envoy lists it and routes to it.
    started = time.monotonic()
    app.set_slice(mc.c2, "helloworld-c2", ["v2", "v3"])
    listed_after = None

    def v3_answers():
        nonlocal listed_after
        if listed_after is None:
            if envoy.healthy_host_addresses(app.cluster_name) != app.endpoints(["v1", "v2", "v3"]):
                return False
            listed_after = time.monotonic() - started
        return Traffic(app).send() == "v3"

    try:
        wait_until(v3_answers, 10.0, "envoy to list v3 and route a request to it", processes=watched)
    finally:
        figure("seconds until v3 listed by envoy (added in cluster2)",
               None if listed_after is None else round(listed_after, 3))
    added = time.monotonic() - started
    figure("seconds until v3 answered (added in cluster2)", round(added, 3))
    assert added < CONVERGE_LIMIT_SECONDS, f"v3 took {added:.2f}s to answer (limit {CONVERGE_LIMIT_SECONDS}s)"

    # Remove it again.
    started = time.monotonic()
    app.set_slice(mc.c2, "helloworld-c2", ["v2"])
    wait_until(lambda: envoy.host_addresses(app.cluster_name) == app.endpoints(["v1", "v2"]), 10.0,
               "envoy to drop v3", processes=watched)
    removed = time.monotonic() - started
    figure("seconds until v3 gone from envoy", round(removed, 3))
    assert removed < CONVERGE_LIMIT_SECONDS, f"removing v3 took {removed:.2f}s (limit {CONVERGE_LIMIT_SECONDS}s)"
    after = Traffic(app).send_many(20)
    assert after.counts["v3"] == 0 and not after.failures, after.summary()

    # Rotate cluster2's credentials: the secret now carries a ServiceAccount token instead of the admin token.
    # Requests run back to back the whole time; none may fail and v2 must keep answering.
    new_kubeconfig = mc.c2.kubeconfig(token=mc.kube.reader_token(), user="istio-reader-service-account")
    traffic = Traffic(app, watch="v2").send_many(20)
    log_mark = len(sextant.log_text())
    states_seen: dict[str, int] = {}
    endpoint_gaps = 0
    mc.put_secret(secret, {REMOTE: new_kubeconfig}, cluster=REMOTE)
    rotated = time.monotonic()
    switched_after = None
    deadline = rotated + 15.0
    while time.monotonic() < deadline:
        traffic.send()
        if traffic.sent % 5 == 0:
            state = sextant.cluster_states().get(REMOTE, "absent")
            states_seen[state] = states_seen.get(state, 0) + 1
            if (BACKEND_IPS["v2"], app.backend_port, REMOTE) not in sextant.endpoints_of(app.hostname):
                endpoint_gaps += 1
            if switched_after is None and sextant.log_lines(ROTATION_SWITCHED_LOG, since=log_mark):
                switched_after = time.monotonic() - rotated
        if switched_after is not None and time.monotonic() - rotated > switched_after + 1.0:
            break
    figure("requests during rotation", traffic.summary())
    figure("seconds until the new kubeconfig took over (log)", None if switched_after is None else round(switched_after, 3))
    figure("longest run of requests without v2 during rotation", traffic.longest_streak_without_watch)
    figure("longest seconds without a v2 answer during rotation", round(traffic.longest_seconds_without_watch, 3))
    figure("cluster2 states seen during rotation", states_seen)
    assert not traffic.failures, f"requests failed during the rotation: {traffic.failures[:10]} ({traffic.summary()})"
    assert switched_after is not None, (
        f"sextant never logged {ROTATION_SWITCHED_LOG!r} within 15 s of the secret update; log since the update:\n"
        + sextant.log_text()[log_mark:][-3000:]
    )
    assert set(states_seen) == {"synced"}, f"cluster2 left `synced` during the rotation: {states_seen}"
    assert endpoint_gaps == 0, f"cluster2's v2 endpoint was missing from /debug/endpointz {endpoint_gaps} times"
    # Two equally weighted hosts: 25 answers in a row without v2 has probability 2^-25.
    assert traffic.longest_streak_without_watch <= 25, (
        f"v2 did not answer {traffic.longest_streak_without_watch} requests in a row during the rotation "
        f"({traffic.summary()})")

    # The cluster follows changes through the new credentials.
    started = time.monotonic()
    app.set_slice(mc.c2, "helloworld-c2", ["v2", "v3"])
    wait_until(lambda: envoy.host_addresses(app.cluster_name) == app.endpoints(["v1", "v2", "v3"]), 10.0,
               "envoy to list v3 after the rotation", processes=watched)
    figure("seconds until v3 listed after the rotation", round(time.monotonic() - started, 3))
    app.set_slice(mc.c2, "helloworld-c2", ["v2"])
    wait_until(lambda: envoy.host_addresses(app.cluster_name) == app.endpoints(["v1", "v2"]), 10.0,
               "envoy to drop v3 after the rotation", processes=watched)
    assert_synced(sextant, [PRIMARY, REMOTE], "after the rotation")

    # Delete the secret: cluster2 and its endpoints leave.
    started = time.monotonic()
    mc.delete_secret(secret)
    gone_from_envoy = None

    def cluster2_gone():
        nonlocal gone_from_envoy
        if gone_from_envoy is None:
            if envoy.host_addresses(app.cluster_name) != app.endpoints(["v1"]):
                return False
            gone_from_envoy = time.monotonic() - started
        return REMOTE not in sextant.cluster_states()

    try:
        wait_until(cluster2_gone, 10.0, "cluster2 to leave envoy and /debug/clusterz", processes=watched)
    finally:
        figure("seconds until cluster2's endpoints left envoy (secret deleted)",
               None if gone_from_envoy is None else round(gone_from_envoy, 3))
    gone = time.monotonic() - started
    figure("seconds until cluster2 left /debug/clusterz (secret deleted)", round(gone, 3))
    assert gone < CONVERGE_LIMIT_SECONDS, f"removing cluster2 took {gone:.2f}s (limit {CONVERGE_LIMIT_SECONDS}s)"
    assert sextant.endpoints_of(app.hostname) == app.expected({PRIMARY: ["v1"]})
    assert sorted(sextant.cluster_states()) == [PRIMARY]
    rest = Traffic(app).send_many(20)
    assert rest.summary() == {"v1": 20}, f"after removing cluster2: {rest.summary()}"
    assert sextant.ready_status() == 200


# --------------------------------------------------------------------------------------------------------------
# 3. Faults: the remote API server goes away and comes back changed; watches expire and are compacted away


def test_remote_outage_changes_while_away_and_watch_expiry(mc: Multicluster, figure):
    kube = mc.kube
    c1, c2 = mc.c1, mc.c2
    app = mc.deploy("mc-faults", {"helloworld-c1": ["v1"]}, {"helloworld-c2": ["v2"], "helloworld-c2-b": ["v4"]},
                    backends=["v1", "v2", "v3", "v4", "v5"])
    mc.put_secret("istio-remote-secret-cluster2", {REMOTE: c2.kubeconfig()}, cluster=REMOTE)
    # A second API server over cluster2's data, unknown to Sextant (started from this thread; see KubeClusters).
    shadow = kube.shadow()
    shadow.start()
    sextant = mc.start_sextant(extra_args=["--watch-timeout", f"{WATCH_TIMEOUT_SECONDS}s"])
    envoy = mc.start_envoy(sextant, app, ["v1", "v2", "v4"])
    watched = [sextant.process, envoy.process]
    before = app.expected({PRIMARY: ["v1"], REMOTE: ["v2", "v4"]})
    assert sextant.endpoints_of(app.hostname) == before

    # -- cluster2's API server stops: cluster1 keeps serving, cluster2's last endpoints stay, state error.
    c2.stop()
    stopped = time.monotonic()
    traffic = Traffic(app)
    not_ready: list[int] = []
    error_after = None
    while time.monotonic() - stopped < 10.0:
        traffic.send()
        status = sextant.ready_status()
        if status != 200:
            not_ready.append(status)
        entry = sextant.clusters().get(REMOTE)
        if entry and entry["state"] == "error" and entry["reason"].strip():
            error_after = time.monotonic() - stopped
            figure("cluster2 reason while its API server is down", entry["reason"][:300])
            break
    figure("seconds until cluster2 shows error (API server stopped)", None if error_after is None else round(error_after, 3))
    assert error_after is not None, f"cluster2 not in error 10 s after its API server stopped: {sextant.clusters().get(REMOTE)}"
    assert error_after < ERROR_STATE_LIMIT_SECONDS, f"error state took {error_after:.2f}s"
    traffic.send_many(20)
    figure("requests while cluster2's API server is down", traffic.summary())
    assert not traffic.failures, f"requests failed while cluster2 was down: {traffic.failures[:10]}"
    assert traffic.counts["v1"] > 0, f"cluster1's v1 did not answer: {traffic.summary()}"
    assert not not_ready, f"/ready left 200 while cluster2 was down: {not_ready[:5]}"
    assert sextant.endpoints_of(app.hostname) == before, "cluster2's last known endpoints must stay in /debug/endpointz"
    assert envoy.host_addresses(app.cluster_name) == app.endpoints(["v1", "v2", "v4"])
    assert sextant.cluster_states()[PRIMARY] == "synced"

    # -- Meanwhile cluster2 changes (written through the shadow server): v3 replaces v2, slice b goes away.
    app.set_slice(shadow, "helloworld-c2", ["v3"])
    app.delete_slice(shadow, "helloworld-c2-b")
    shadow.close()
    compacted_at = kube.etcd.compact()  # watches from before the change can only be answered with 410 Gone now
    figure("etcd compacted at revision", compacted_at)
    assert sextant.endpoints_of(app.hostname) == before  # Sextant cannot have seen it

    # -- cluster2 comes back: Sextant converges to what the server holds, and cluster2 is synced again.
    restart_began = time.monotonic()
    c2.start()
    back = time.monotonic()
    figure("seconds cluster2's API server was down", round(back - stopped, 3))
    truth = app.api_endpoints(kube.servers)
    assert truth == app.expected({PRIMARY: ["v1"], REMOTE: ["v3"]}), truth

    def converged():
        return (sextant.endpoints_of(app.hostname) == truth
                and sextant.cluster_states() == {PRIMARY: "synced", REMOTE: "synced"}
                and envoy.host_addresses(app.cluster_name) == app.endpoints(["v1", "v3"]))

    try:
        reconnected = timed_wait(converged, 30.0, "sextant and envoy to converge on cluster2's changed state",
                                 processes=watched)
    except WaitTimeout as error:
        raise AssertionError(f"{error}; endpointz {sextant.endpoints_of(app.hostname)} vs API {truth}; "
                             f"clusterz {sextant.cluster_states()}") from None
    figure("seconds until converged after cluster2's API server returned (readyz ok)", round(reconnected, 3))
    figure("seconds from the restart command to convergence", round(time.monotonic() - restart_began, 3))
    assert reconnected < RECONNECT_LIMIT_SECONDS, f"converging took {reconnected:.2f}s"
    relists = len(sextant.log_lines("expired; listing again"))
    figure("sextant log lines about expired resourceVersions (after the restart)", relists)

    # -- Watches expire every 2 s; etcd is compacted under them; both clusters change all the while.
    lists_before = apiserver_requests(c2, "LIST", "nodes")
    watches_before = apiserver_requests(c2, "WATCH", "nodes")
    schedule = [
        (0.0, "cluster2: create slice b [v4]", lambda: app.set_slice(c2, "helloworld-c2-b", ["v4"])),
        (1.0, "compact", lambda: kube.etcd.compact()),
        (1.5, "cluster1: [v1, v5]", lambda: app.set_slice(c1, "helloworld-c1", ["v1", "v5"])),
        (2.5, "cluster2: [v2, v3]", lambda: app.set_slice(c2, "helloworld-c2", ["v2", "v3"])),
        (3.0, "compact", lambda: kube.etcd.compact()),
        (3.5, "cluster1: [v1]", lambda: app.set_slice(c1, "helloworld-c1", ["v1"])),
        (4.5, "cluster2: delete slice b", lambda: app.delete_slice(c2, "helloworld-c2-b")),
        (5.0, "compact", lambda: kube.etcd.compact()),
        (5.5, "cluster2: [v2]", lambda: app.set_slice(c2, "helloworld-c2", ["v2"])),
        (6.5, "cluster2: create slice b [v4]", lambda: app.set_slice(c2, "helloworld-c2-b", ["v4"])),
        (6.6, "cluster1: [v1, v5]", lambda: app.set_slice(c1, "helloworld-c1", ["v1", "v5"])),
        (7.0, "compact", lambda: kube.etcd.compact()),
    ]
    churn = Traffic(app)
    began = time.monotonic()
    pending = list(schedule)
    while pending:
        while pending and time.monotonic() - began >= pending[0][0]:
            pending.pop(0)[2]()
        churn.send()  # requests back to back between the changes; every backend stays up, so none may fail
    figure("requests during the churn", churn.summary())
    assert not churn.failures, f"requests failed during the churn: {churn.failures[:10]}"

    truth = app.api_endpoints(kube.servers)
    assert truth == app.expected({PRIMARY: ["v1", "v5"], REMOTE: ["v2", "v4"]}), truth
    hosts = app.endpoints(["v1", "v5", "v2", "v4"])
    try:
        settled = timed_wait(lambda: sextant.endpoints_of(app.hostname) == truth
                             and envoy.host_addresses(app.cluster_name) == hosts, 10.0,
                             "endpointz and envoy to equal the API servers after the churn", processes=watched)
    except WaitTimeout as error:
        raise AssertionError(f"{error}; endpointz {sextant.endpoints_of(app.hostname)} vs API {truth}") from None
    figure("seconds until endpointz equals the API servers after the churn", round(settled, 3))
    assert settled < CONVERGE_LIMIT_SECONDS, f"settling after the churn took {settled:.2f}s"

    # It stays exact (no duplicates, nothing missing) across two more watch expiries.
    mismatches = []
    checks = 0
    began = time.monotonic()
    while time.monotonic() - began < 2 * WATCH_TIMEOUT_SECONDS + 0.5:
        checks += 1
        seen = sextant.endpoints_of(app.hostname)
        if seen != truth:
            mismatches.append(seen)
        listed = envoy.host_addresses(app.cluster_name)
        if listed != hosts:
            mismatches.append(("envoy", listed))
        churn.send()
    assert not mismatches, f"{len(mismatches)}/{checks} checks differed from the API servers {truth}: {mismatches[:3]}"
    assert not churn.failures, churn.failures[:10]
    assert_synced(sextant, [PRIMARY, REMOTE], "after the churn")

    lists = apiserver_requests(c2, "LIST", "nodes") - lists_before
    watches = apiserver_requests(c2, "WATCH", "nodes") - watches_before
    figure("cluster2 node WATCH requests completed during churn + checks", watches)
    figure("cluster2 node LIST requests (relists) during churn + checks", lists)
    figure("sextant log lines about expired resourceVersions (total)", len(sextant.log_lines("expired; listing again")))
    assert watches >= 3, f"only {watches} node watches of cluster2 ended in ~12 s with --watch-timeout 2s"
    assert lists >= 1, "no relist of cluster2's nodes although etcd was compacted under its watches"


# --------------------------------------------------------------------------------------------------------------
# 4. Bad remote secrets: each cluster alone is in error; the rest serves; readiness stops waiting


def test_bad_remote_secrets_are_isolated(mc: Multicluster, figure):
    app = mc.deploy("mc-bad", {"helloworld-c1": ["v1"]}, {"helloworld-c2": ["v2"]}, backends=["v1", "v2"])
    marker = mc.tmp_path / "exec-plugin-ran"
    closed = closed_port()
    mc.put_secret("istio-remote-secret-cluster2", {REMOTE: mc.c2.kubeconfig()}, cluster=REMOTE)
    mc.put_secret("istio-remote-secret-cluster3", {"cluster3": exec_kubeconfig(mc.c2, "cluster3", marker)})
    mc.put_secret("istio-remote-secret-cluster4", {"cluster4": MALFORMED_KUBECONFIG})
    mc.put_secret("istio-remote-secret-cluster5", {"cluster5": closed_port_kubeconfig(mc.c2, "cluster5", closed)})

    started = time.monotonic()
    sextant = mc.start_sextant(env={"PILOT_REMOTE_CLUSTER_TIMEOUT": f"{REMOTE_TIMEOUT_SECONDS:g}s"}, wait_ready=False)
    expected_states = {PRIMARY: "synced", REMOTE: "synced", "cluster3": "error", "cluster4": "error", "cluster5": "error"}
    ready_early: list[float] = []

    def states_reached():
        states = sextant.cluster_states()
        if states != expected_states:
            return False
        elapsed = time.monotonic() - started
        if elapsed < REMOTE_TIMEOUT_SECONDS * 0.9 and sextant.ready_status() == 200:
            ready_early.append(elapsed)
        return True

    try:
        wait_until(states_reached, 15.0, f"/debug/clusterz to show {expected_states}", processes=[sextant.process])
    finally:
        figure("seconds until clusterz showed every cluster's state", round(time.monotonic() - started, 3))
    # Clusters in error never synced and the remote timeout has not passed: not ready yet.
    assert not ready_early, (
        f"/ready answered 200 {ready_early[0]:.2f}s after start, before the {REMOTE_TIMEOUT_SECONDS}s remote timeout, "
        f"while clusters in error had never synced: {sextant.cluster_states()}")

    clusters = sextant.clusters()
    figure("reasons", {cid: clusters[cid]["reason"][:200] for cid in ("cluster3", "cluster4", "cluster5")})
    for cid in ("cluster3", "cluster4", "cluster5"):
        assert clusters[cid]["reason"].strip() and clusters[cid]["has_synced"] is False, clusters[cid]
    assert "exec" in clusters["cluster3"]["reason"], clusters["cluster3"]
    assert re.search(r"(?i)refused|connect", clusters["cluster5"]["reason"]), clusters["cluster5"]
    assert not marker.exists(), "the exec credential plugin of a remote secret was run"

    exec_lines = [line for line in sextant.log_lines("istio-remote-secret-cluster3") if ".exec" in line]
    malformed_lines = [line for line in sextant.log_lines("istio-remote-secret-cluster4", "cluster4")
                       if re.search(r"(?i)error|warn", line)]
    figure("log line for the exec secret", exec_lines[:1])
    figure("log line for the malformed secret", malformed_lines[:1])
    assert exec_lines, "no log line names secret istio-remote-secret-cluster3 and its exec field"
    assert malformed_lines, "no error/warning log line names secret istio-remote-secret-cluster4 and key cluster4"

    # The good clusters serve (Envoy is given config whether or not readiness has turned yet).
    envoy = mc.start_envoy(sextant, app, ["v1", "v2"])
    traffic = Traffic(app).send_many(40)
    figure("requests per version with three bad secrets (40)", traffic.summary())
    assert not traffic.failures and traffic.counts["v1"] and traffic.counts["v2"], traffic.summary()

    # Once PILOT_REMOTE_CLUSTER_TIMEOUT has passed, readiness no longer waits for the clusters in error.
    try:
        wait_until(lambda: sextant.ready_status() == 200, max(0.0, REMOTE_TIMEOUT_SECONDS + 10.0 - (time.monotonic() - started)),
                   f"/ready to answer 200 once PILOT_REMOTE_CLUSTER_TIMEOUT={REMOTE_TIMEOUT_SECONDS:g}s passed",
                   processes=[sextant.process])
    finally:
        ready_after = time.monotonic() - started
        figure("seconds from start to /ready 200 (PILOT_REMOTE_CLUSTER_TIMEOUT=3s)", round(ready_after, 3))
    assert sextant.cluster_states() == expected_states, sextant.cluster_states()

    # One more bad secret at runtime disturbs nobody: requests keep succeeding, cluster2 stays synced.
    mc.put_secret("istio-remote-secret-cluster6",
                  {"cluster6": closed_port_kubeconfig(mc.c2, "cluster6", closed_port())})
    added = time.monotonic()
    traffic = Traffic(app, watch="v2")
    remote_states: dict[str, int] = {}
    error_after = None
    while time.monotonic() - added < 10.0:
        traffic.send()
        states = sextant.cluster_states()
        remote_states[states.get(REMOTE, "absent")] = remote_states.get(states.get(REMOTE, "absent"), 0) + 1
        if states.get("cluster6") == "error":
            error_after = time.monotonic() - added
            break
    figure("seconds until a runtime-added unreachable cluster shows error", None if error_after is None else round(error_after, 3))
    assert error_after is not None, f"cluster6 never showed error: {sextant.cluster_states()}"

    def ready_again():
        traffic.send()  # keep the requests going while waiting
        return sextant.ready_status() == 200

    wait_until(ready_again, REMOTE_TIMEOUT_SECONDS + 10.0, "/ready 200 again after cluster6's timeout",
               processes=[sextant.process, envoy.process])
    figure("seconds until /ready 200 after adding cluster6", round(time.monotonic() - added, 3))
    traffic.send_many(20)
    figure("requests while cluster6 was added", traffic.summary())
    assert not traffic.failures, f"requests failed: {traffic.failures[:10]}"
    assert set(remote_states) == {"synced"}, f"cluster2 left synced: {remote_states}"
    assert traffic.counts["v1"] and traffic.counts["v2"], traffic.summary()
    assert sextant.endpoints_of(app.hostname) == app.expected({PRIMARY: ["v1"], REMOTE: ["v2"]})


# --------------------------------------------------------------------------------------------------------------
# 5. A remote secret naming the primary cluster


INTRUDER = "intruder.mc-primary.svc.cluster.local"


def test_secret_key_naming_the_primary_is_ignored(mc: Multicluster, figure):
    app = mc.deploy("mc-primary", {"helloworld-c1": ["v1"]}, {"helloworld-c2": ["v2"]}, backends=["v1", "v2"])
    # One secret with both keys (cluster2 and cluster1), one with only the primary's key.
    mc.put_secret("istio-remote-secret-cluster2", {REMOTE: mc.c2.kubeconfig(), PRIMARY: mc.c1.kubeconfig()})
    mc.put_secret("istio-remote-secret-cluster1", {PRIMARY: mc.c1.kubeconfig()}, cluster=PRIMARY)
    # A clusters directory whose subdirectory is named like the primary: it must not replace the primary's objects.
    clusters_dir = mc.tmp_path / "clusters"
    (clusters_dir / PRIMARY).mkdir(parents=True)
    (clusters_dir / PRIMARY / "intruder.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: intruder, namespace: mc-primary}\n"
        "spec: {clusterIP: 10.96.7.7, ports: [{name: http, port: 80}]}\n")
    sextant = mc.start_sextant(extra_args=["--clusters-dir", str(clusters_dir)])
    assert_synced(sextant, [PRIMARY, REMOTE], "right after /ready answered 200")
    refused = []

    def directory_refused():
        refused[:] = [line for line in sextant.log_text().splitlines()
                      if "cluster directory ignored" in line and f"{clusters_dir}/{PRIMARY}" in line]
        return refused

    try:
        wait_until(directory_refused, 5.0, f"an error saying {clusters_dir}/{PRIMARY} is ignored (the primary's ID)",
                   processes=[sextant.process])
    finally:
        figure("clusters directory named like the primary: log", refused[:1])
    assert "the primary cluster" in refused[0], refused[0]
    services = {entry["hostname"]: entry for entry in sextant.registryz()}
    assert INTRUDER not in services, f"the directory named like the primary fed the registry: {services[INTRUDER]}"

    warnings = []

    def warned():
        warnings[:] = [line for line in sextant.log_text().splitlines()
                       if PRIMARY in line and re.search(r"(?i)warn", line) and re.search(r"(?i)primary", line)]
        return all(any(secret in line for line in warnings) for secret in secrets)

    secrets = ("istio-remote-secret-cluster1", "istio-remote-secret-cluster2")
    try:
        wait_until(warned, 5.0, f"a log warning for each of {secrets} that it names the primary cluster",
                   processes=[sextant.process])
    finally:
        figure("warning lines", warnings[:3])
    expected = app.expected({PRIMARY: ["v1"], REMOTE: ["v2"]})
    assert sextant.endpoints_of(app.hostname) == expected, "duplicate or missing endpoints"
    envoy = mc.start_envoy(sextant, app, ["v1", "v2"])
    assert envoy.host_addresses(app.cluster_name) == app.endpoints(["v1", "v2"])
    traffic = Traffic(app).send_many(30)
    figure("requests per version (30)", traffic.summary())
    assert not traffic.failures and traffic.counts["v1"] and traffic.counts["v2"], traffic.summary()
    # Still exactly one cluster1 and one copy of each endpoint.
    assert_synced(sextant, [PRIMARY, REMOTE], "after serving")
    assert sextant.endpoints_of(app.hostname) == expected


# --------------------------------------------------------------------------------------------------------------
# 6. One source per cluster ID: a clusters-directory subdirectory and a remote secret naming the same cluster


def test_a_cluster_id_is_fed_by_one_source_and_handed_over(mc: Multicluster, figure):
    app = mc.deploy("mc-owners", {"helloworld-c1": ["v1"]}, {"helloworld-c2": ["v2"]}, backends=["v1", "v2"])
    secret = "istio-remote-secret-cluster2"
    mc.put_secret(secret, {REMOTE: mc.c2.kubeconfig()}, cluster=REMOTE)
    clusters_dir = mc.tmp_path / "clusters"
    clusters_dir.mkdir()
    sextant = mc.start_sextant(extra_args=["--clusters-dir", str(clusters_dir)])
    assert_synced(sextant, [PRIMARY, REMOTE], "right after /ready answered 200")
    expected = app.expected({PRIMARY: ["v1"], REMOTE: ["v2"]})
    assert sextant.endpoints_of(app.hostname) == expected

    # A subdirectory named like the remote cluster appears: refused while the remote secret feeds cluster2.
    (clusters_dir / REMOTE).mkdir()
    (clusters_dir / REMOTE / "intruder.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: intruder, namespace: mc-primary}\n"
        "spec: {clusterIP: 10.96.7.7, ports: [{name: http, port: 80}]}\n")
    refused = []

    def directory_refused():
        refused[:] = [line for line in sextant.log_text().splitlines()
                      if "cluster directory ignored" in line and f"{clusters_dir}/{REMOTE}" in line]
        return refused

    wait_until(directory_refused, 5.0, f"an error saying {clusters_dir}/{REMOTE} is ignored (a remote secret feeds it)",
               processes=[sextant.process])
    figure("subdirectory named like a remote cluster: log", refused[:1])
    assert "a remote secret" in refused[0], refused[0]
    assert INTRUDER not in {entry["hostname"] for entry in sextant.registryz()}
    assert sextant.endpoints_of(app.hostname) == expected, "the refused directory disturbed cluster2's endpoints"

    # The secret goes: cluster2's API objects leave, then the directory takes the ID over and is synced.
    started = time.monotonic()
    mc.delete_secret(secret)

    def handed_over():
        states = sextant.cluster_states()
        services = {entry["hostname"]: entry for entry in sextant.registryz()}
        return (states.get(REMOTE) == "synced" and INTRUDER in services
                and services[INTRUDER]["clusters"] == [REMOTE]
                and sextant.endpoints_of(app.hostname) == app.expected({PRIMARY: ["v1"]}))

    wait_until(handed_over, 10.0, f"{clusters_dir}/{REMOTE} to feed cluster2 (synced) once the secret is deleted",
               processes=[sextant.process])
    figure("seconds from the secret's deletion to the directory feeding cluster2", round(time.monotonic() - started, 3))
    # Readiness is judged on the pushed snapshot, which follows the registry after the debounce.
    wait_until(lambda: sextant.ready_status() == 200, 5.0, "/ready 200 with cluster2 fed by the directory",
               processes=[sextant.process])
