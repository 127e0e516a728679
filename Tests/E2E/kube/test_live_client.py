"""Runs the Swift client's live tests (Tests/SextantKubeClientTests/LiveAPIServerTests.swift) against a real
kube-apiserver 1.20.2, so the opt-in suite runs in every test command instead of only by hand.

Needs the test binary that `swift test` built earlier in the test command (`--skip-build`).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .harness import ApiServer, Etcd, kube_apiserver_binary

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with Etcd(workdir=tmp_path_factory.mktemp("etcd")) as etcd:
        binary = kube_apiserver_binary()
        with ApiServer(etcd, "/live", "cluster1", workdir=tmp_path_factory.mktemp("live"), binary=binary) as api:
            yield api  # the context manager starts it


def test_swift_live_client_suite_passes_against_a_real_api_server(server: ApiServer, tmp_path: Path):
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    server.create_namespace("istio-system")
    server.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "istio-remote-secret-live",
                "namespace": "istio-system",
                "labels": {"istio/multiCluster": "true"},
            },
            "stringData": {"live": "placeholder"},
        }
    )
    env = dict(os.environ)
    env["SEXTANT_TEST_KUBECONFIG"] = str(kubeconfig)
    env["SEXTANT_TEST_EXPECT_SECRET"] = "istio-system/istio-remote-secret-live"
    result = subprocess.run(
        ["swift", "test", "--skip-build", "--filter", "LiveAPIServerTests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    ran = re.search(r"Test run with (\d+) tests? .*passed", output)
    assert ran and int(ran.group(1)) >= 3, f"the live suite did not run its tests:\n{output[-4000:]}"
    print(ran.group(0))
