"""Protos/ must match Envoy's real API descriptors (from xds-protos); see protocheck.py.

Run with: .venv/bin/python -m pytest -q Tests/Conformance
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))

import protocheck  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTOS = REPO_ROOT / "Protos"
CHECKER = Path(__file__).resolve().parent / "protocheck.py"


@pytest.fixture(scope="module")
def report() -> protocheck.Report:
    return protocheck.check(PROTOS)


def compiled_messages(protos_dir: Path) -> set[str]:
    """Full names of the messages (nested too, map entries not) declared in the files under protos_dir."""
    files = sorted(protos_dir.rglob("*.proto"))
    command = ["protoc", f"-I{protos_dir}"]
    include = protocheck.well_known_include()
    if include:
        command.append(f"-I{include}")
    out = protos_dir.parent / "messages.pb"
    command += [f"--descriptor_set_out={out}", *map(str, files)]
    subprocess.run(command, check=True)
    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    out.unlink()

    names: set[str] = set()

    def walk(message: descriptor_pb2.DescriptorProto, scope: str) -> None:
        if message.options.map_entry:
            return
        names.add(scope + message.name)
        for nested in message.nested_type:
            walk(nested, f"{scope}{message.name}.")

    for file in descriptor_set.file:
        for message in file.message_type:
            walk(message, f"{file.package}.")
    return names


def test_protos_match_envoy(report: protocheck.Report, tmp_path: Path) -> None:
    assert report.differences == []
    assert len(report.files) == len(list(PROTOS.rglob("*.proto")))
    shutil.copytree(PROTOS, tmp_path / "Protos")
    expected = compiled_messages(tmp_path / "Protos")
    assert len(report.messages) == len(set(report.messages))
    assert set(report.messages) == expected
    assert report.fields > 0 and report.enum_values > 0 and report.rpcs > 0


def test_cli_prints_summary() -> None:
    result = subprocess.run(
        [sys.executable, str(CHECKER), "--protos", str(PROTOS)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("protocheck: OK")
    assert " files, " in result.stdout and " messages, " in result.stdout and " rpcs" in result.stdout


def mutated_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of Protos/ in which `old` (found exactly once in `file`) is replaced by `new`."""
    copy = tmp_path / "Protos"
    shutil.copytree(PROTOS, copy)
    target = copy / file
    text = target.read_text()
    assert text.count(old) == 1, f"{old!r} should occur once in {file}"
    target.write_text(text.replace(old, new))
    return copy


CLUSTER = "envoy/config/cluster/v3/cluster.proto"


def test_reports_wrong_field_number(tmp_path: Path) -> None:
    protos = mutated_copy(
        tmp_path, CLUSTER, "google.protobuf.Duration connect_timeout = 4;", "google.protobuf.Duration connect_timeout = 5;"
    )
    assert protocheck.check(protos).differences == [
        f"{CLUSTER}: envoy.config.cluster.v3.Cluster.connect_timeout: number 5 in Protos/, 4 in Envoy"
    ]


def test_cli_fails_on_difference(tmp_path: Path) -> None:
    protos = mutated_copy(
        tmp_path, CLUSTER, "google.protobuf.Duration connect_timeout = 4;", "google.protobuf.Duration connect_timeout = 5;"
    )
    result = subprocess.run([sys.executable, str(CHECKER), "--protos", str(protos)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "envoy.config.cluster.v3.Cluster.connect_timeout: number 5 in Protos/, 4 in Envoy" in result.stdout


# (file, text to replace, replacement, the one difference line expected)
MUTATIONS = {
    "field type": (
        "envoy/config/listener/v3/listener.proto",
        "google.protobuf.BoolValue bind_to_port = 26;",
        "bool bind_to_port = 26;",
        "envoy.config.listener.v3.Listener.bind_to_port: type bool in Protos/, google.protobuf.BoolValue in Envoy",
    ),
    "field message type": (
        "envoy/config/route/v3/route_components.proto",
        "google.protobuf.Duration timeout = 8;",
        "google.protobuf.UInt32Value timeout = 8;",
        "envoy.config.route.v3.RouteAction.timeout: "
        "type google.protobuf.UInt32Value in Protos/, google.protobuf.Duration in Envoy",
    ),
    "field name": (
        "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
        "string route_config_name = 2;",
        "string route_configuration_name = 2;",
        "envoy.extensions.filters.network.http_connection_manager.v3.Rds.route_configuration_name: "
        "name route_configuration_name in Protos/, route_config_name in Envoy (field number 2)",
    ),
    "enum value number": (
        "envoy/config/core/v3/health_check.proto",
        "DEGRADED = 5;",
        "DEGRADED = 6;",
        "envoy.config.core.v3.HealthStatus.DEGRADED: number 6 in Protos/, 5 in Envoy",
    ),
    "nested enum value name": (
        CLUSTER,
        "V4_PREFERRED = 3;",
        "V4_FIRST = 3;",
        "envoy.config.cluster.v3.Cluster.DnsLookupFamily.V4_FIRST: "
        "name V4_FIRST in Protos/, V4_PREFERRED in Envoy (value 3)",
    ),
    "missing enum value": (
        "envoy/config/core/v3/base.proto",
        "  HIGH = 1;\n",
        "",
        "envoy.config.core.v3.RoutingPriority.HIGH: missing in Protos/, 1 in Envoy",
    ),
    "repeated-ness": (
        "envoy/config/route/v3/route_components.proto",
        "repeated string domains = 2;",
        "string domains = 2;",
        "envoy.config.route.v3.VirtualHost.domains: singular in Protos/, repeated in Envoy",
    ),
    "map-ness": (
        "envoy/service/discovery/v3/discovery.proto",
        "map<string, string> initial_resource_versions = 5;",
        "repeated string initial_resource_versions = 5;",
        "envoy.service.discovery.v3.DeltaDiscoveryRequest.initial_resource_versions: "
        "repeated string (not a map) in Protos/, map<string, string> in Envoy",
    ),
    "field outside its oneof": (
        "envoy/config/core/v3/base.proto",
        "  oneof user_agent_version_type {\n    string user_agent_version = 7;\n  }\n",
        "  string user_agent_version = 7;\n",
        "envoy.config.core.v3.Node.user_agent_version: oneof (none) in Protos/, user_agent_version_type in Envoy",
    ),
    "proto3 optional": (
        "envoy/config/core/v3/base.proto",
        "string user_agent_name = 6;",
        "optional string user_agent_name = 6;",
        "envoy.config.core.v3.Node.user_agent_name: optional in Protos/, not optional in Envoy",
    ),
    "unknown field": (
        "envoy/config/core/v3/base.proto",
        "string sub_zone = 3;",
        "string sub_zone = 3;\n  string planet = 99;",
        "envoy.config.core.v3.Locality.planet: field not in Envoy (number 99 is not used there either)",
    ),
    "unknown message": (
        "envoy/config/core/v3/extension.proto",
        "message TypedExtensionConfig {",
        "message Sextant {\n}\n\nmessage TypedExtensionConfig {",
        "envoy.config.core.v3.Sextant: message not in Envoy",
    ),
    "rpc streaming": (
        "envoy/service/status/v3/csds.proto",
        "rpc FetchClientStatus(ClientStatusRequest) returns (ClientStatusResponse);",
        "rpc FetchClientStatus(ClientStatusRequest) returns (stream ClientStatusResponse);",
        "envoy.service.status.v3.ClientStatusDiscoveryService.FetchClientStatus: "
        "server_streaming true in Protos/, false in Envoy",
    ),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_reports_each_kind_of_difference(case: str, tmp_path: Path) -> None:
    file, old, new, expected = MUTATIONS[case]
    protos = mutated_copy(tmp_path, file, old, new)
    assert protocheck.check(protos).differences == [f"{file}: {expected}"]


def test_reports_message_in_wrong_file(tmp_path: Path) -> None:
    # Locality belongs to base.proto; declaring it in address.proto instead must be reported.
    base = "envoy/config/core/v3/base.proto"
    locality = "message Locality {\n  string region = 1;\n  string zone = 2;\n  string sub_zone = 3;\n}\n"
    protos = mutated_copy(tmp_path, base, locality, "")
    address = protos / "envoy/config/core/v3/address.proto"
    address.write_text(address.read_text() + "\n" + locality)
    base_text = (protos / base).read_text()
    (protos / base).write_text(base_text.replace(
        'import "google/protobuf/any.proto";', 'import "envoy/config/core/v3/address.proto";\nimport "google/protobuf/any.proto";'
    ))
    assert protocheck.check(protos).differences == [
        "envoy/config/core/v3/address.proto: envoy.config.core.v3.Locality: "
        "declared in envoy/config/core/v3/address.proto in Protos/, envoy/config/core/v3/base.proto in Envoy"
    ]


def test_protoc_failure_is_an_error(tmp_path: Path) -> None:
    protos = mutated_copy(tmp_path, CLUSTER, "string alt_stat_name = 28;", "strin alt_stat_name = 28;")
    with pytest.raises(protocheck.CheckError, match="protoc failed"):
        protocheck.check(protos)
