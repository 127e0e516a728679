"""Istio's own protos that Protos/ carries, as reference descriptors (xds-protos holds only Envoy's API).

Transcribed from istio.io/api (security/v1alpha1/ca.proto, package istio.v1.auth): names, numbers, types and
streaming of what Sextant serves. `register()` adds the file to the default descriptor pool, so protocheck
compares Protos/ with it exactly as it compares Envoy's files with xds-protos.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, struct_pb2  # noqa: F401 (struct_pb2 registers struct.proto)

FDP = descriptor_pb2.FieldDescriptorProto

FILES = {"security/v1alpha1/ca.proto"}


def _ca_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="security/v1alpha1/ca.proto",
        package="istio.v1.auth",
        syntax="proto3",
        dependency=["google/protobuf/struct.proto"],
    )
    request = file.message_type.add(name="IstioCertificateRequest")
    request.field.add(name="csr", number=1, type=FDP.TYPE_STRING, label=FDP.LABEL_OPTIONAL, json_name="csr")
    request.field.add(
        name="validity_duration", number=3, type=FDP.TYPE_INT64, label=FDP.LABEL_OPTIONAL, json_name="validityDuration"
    )
    request.field.add(
        name="metadata", number=4, type=FDP.TYPE_MESSAGE, type_name=".google.protobuf.Struct",
        label=FDP.LABEL_OPTIONAL, json_name="metadata",
    )
    response = file.message_type.add(name="IstioCertificateResponse")
    response.field.add(
        name="cert_chain", number=1, type=FDP.TYPE_STRING, label=FDP.LABEL_REPEATED, json_name="certChain"
    )
    service = file.service.add(name="IstioCertificateService")
    service.method.add(
        name="CreateCertificate",
        input_type=".istio.v1.auth.IstioCertificateRequest",
        output_type=".istio.v1.auth.IstioCertificateResponse",
    )
    return file


def register() -> None:
    """Adds Istio's reference files to the default pool (once)."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("security/v1alpha1/ca.proto")
    except KeyError:
        pool.Add(_ca_file())
