#!/usr/bin/env python3
"""Checks the hand-written Envoy API subset in Protos/ against Envoy's real descriptors.

Protos/ holds a subset of Envoy's v3 API (plus google/rpc/status.proto, and Istio's security/v1alpha1/ca.proto,
checked against the reference in istio_reference.py): the same file paths, packages and
full names, but only the fields Sextant uses. This module compiles Protos/ with protoc into a
FileDescriptorSet and compares every message (nested ones too), enum and service in it with the descriptor
of the same full name that the xds-protos package (generated *_pb2 modules of Envoy's API) registers:

- the type exists in Envoy, as the same kind, declared in the file of the same path and package;
- every field: name, number, type (with the resolved type name of message and enum fields), repeated or
  not, map or not (with key and value types), its oneof (or none), proto3 `optional`;
- every enum value: name and number; values Envoy has that Protos/ lacks are differences too, since an
  enum subset would decode Envoy's other values as unknown;
- every rpc: name, input and output types, client and server streaming.

Fields, messages and rpcs that Envoy has and Protos/ leaves out are fine: Protos/ is a subset.
Options, comments, reserved ranges and json_name are not compared.

Usage: python Tests/Conformance/protocheck.py [--protos Protos]
Prints one line per difference (`<file>: <full name>[.<field>]: <what> in Protos/, <what> in Envoy`) and
exits 1 if there is any, prints a summary and exits 0 if there is none, and exits 2 if the check could not
run (protoc failed, xds-protos missing).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from google.protobuf import descriptor_pb2, descriptor_pool

sys.path.insert(0, str(Path(__file__).resolve().parent))
import istio_reference  # noqa: E402  (Istio's files, which xds-protos does not hold)

FDP = descriptor_pb2.FieldDescriptorProto
DescriptorProto = descriptor_pb2.DescriptorProto
EnumDescriptorProto = descriptor_pb2.EnumDescriptorProto
ServiceDescriptorProto = descriptor_pb2.ServiceDescriptorProto
FileDescriptorProto = descriptor_pb2.FileDescriptorProto

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PROTOS = REPO_ROOT / "Protos"
# Where google/protobuf/*.proto (the well-known types) live; Debian's protobuf-compiler puts them in /usr/include.
WELL_KNOWN_INCLUDE_CANDIDATES = ("/usr/include", "/usr/local/include")

SCALAR_NAMES = {
    FDP.TYPE_DOUBLE: "double",
    FDP.TYPE_FLOAT: "float",
    FDP.TYPE_INT64: "int64",
    FDP.TYPE_UINT64: "uint64",
    FDP.TYPE_INT32: "int32",
    FDP.TYPE_FIXED64: "fixed64",
    FDP.TYPE_FIXED32: "fixed32",
    FDP.TYPE_BOOL: "bool",
    FDP.TYPE_STRING: "string",
    FDP.TYPE_GROUP: "group",
    FDP.TYPE_BYTES: "bytes",
    FDP.TYPE_UINT32: "uint32",
    FDP.TYPE_SFIXED32: "sfixed32",
    FDP.TYPE_SFIXED64: "sfixed64",
    FDP.TYPE_SINT32: "sint32",
    FDP.TYPE_SINT64: "sint64",
}


class CheckError(Exception):
    """The check could not run (as opposed to finding differences)."""


@dataclass
class Report:
    differences: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Full names of the messages that were compared (map entry types are compared through their fields).
    messages: list[str] = field(default_factory=list)
    enums: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    fields: int = 0
    enum_values: int = 0
    rpcs: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        return (
            f"{len(self.files)} files, {len(self.messages)} messages, {len(self.enums)} enums, "
            f"{self.fields} fields, {self.enum_values} enum values, {len(self.services)} services, "
            f"{self.rpcs} rpcs"
        )


# --- Compiling Protos/ -------------------------------------------------------------------------------------


def proto_files(protos_dir: Path) -> list[str]:
    """Paths of the .proto files under protos_dir, relative to it, with '/' separators, sorted."""
    return sorted(p.relative_to(protos_dir).as_posix() for p in protos_dir.rglob("*.proto"))


def well_known_include() -> Optional[str]:
    for candidate in WELL_KNOWN_INCLUDE_CANDIDATES:
        if os.path.isfile(os.path.join(candidate, "google", "protobuf", "any.proto")):
            return candidate
    return None


def compile_protos(
    protos_dir: Path, protoc: str = "protoc", includes: Optional[list[str]] = None
) -> descriptor_pb2.FileDescriptorSet:
    """Compiles every .proto under protos_dir (with imports) into a FileDescriptorSet."""
    protos_dir = Path(protos_dir).resolve()
    files = proto_files(protos_dir)
    if not files:
        raise CheckError(f"no .proto files under {protos_dir}")
    if shutil.which(protoc) is None:
        raise CheckError(f"{protoc} not found (apt-get install protobuf-compiler)")
    if includes is None:
        found = well_known_include()
        includes = [found] if found else []
    with tempfile.TemporaryDirectory(prefix="protocheck-") as tmp:
        out = os.path.join(tmp, "protos.pb")
        command = [protoc, f"--proto_path={protos_dir}"]
        command += [f"--proto_path={inc}" for inc in includes]
        command += ["--include_imports", f"--descriptor_set_out={out}"]
        command += [str(protos_dir / f) for f in files]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise CheckError(f"protoc failed ({result.returncode}):\n{result.stderr.strip()}")
        with open(out, "rb") as handle:
            return descriptor_pb2.FileDescriptorSet.FromString(handle.read())


# --- Indexing descriptors ----------------------------------------------------------------------------------


def walk_file(file: FileDescriptorProto) -> Iterator[tuple[str, str, object]]:
    """Yields (kind, full name, proto) for every message (nested too), enum and service of a file."""
    prefix = f"{file.package}." if file.package else ""

    def walk_message(message: DescriptorProto, scope: str) -> Iterator[tuple[str, str, object]]:
        name = scope + message.name
        yield "message", name, message
        for enum in message.enum_type:
            yield "enum", f"{name}.{enum.name}", enum
        for nested in message.nested_type:
            yield from walk_message(nested, name + ".")

    for enum in file.enum_type:
        yield "enum", prefix + enum.name, enum
    for message in file.message_type:
        yield from walk_message(message, prefix)
    for service in file.service:
        yield "service", prefix + service.name, service


class TypeIndex:
    """Full name -> (kind, proto, file) for the types of some FileDescriptorProtos."""

    def __init__(self) -> None:
        self.types: dict[str, tuple[str, object, FileDescriptorProto]] = {}

    def add_file(self, file: FileDescriptorProto) -> None:
        for kind, name, proto in walk_file(file):
            self.types[name] = (kind, proto, file)

    def message(self, name: str) -> Optional[DescriptorProto]:
        entry = self.types.get(name.lstrip("."))
        return entry[1] if entry and entry[0] == "message" else None


def module_name(proto_path: str) -> str:
    """envoy/config/cluster/v3/cluster.proto -> envoy.config.cluster.v3.cluster_pb2"""
    return proto_path[: -len(".proto")].replace("/", ".").replace("-", "_") + "_pb2"


class EnvoyDescriptors:
    """Envoy's real descriptors, from the modules of xds-protos and the default descriptor pool."""

    def __init__(self) -> None:
        self.pool = descriptor_pool.Default()
        self.index = TypeIndex()
        self._loaded_files: set[str] = set()

    def import_file(self, proto_path: str) -> tuple[Optional[FileDescriptorProto], Optional[str]]:
        """Imports the module generated from proto_path; returns its FileDescriptorProto or an error."""
        if proto_path in istio_reference.FILES:
            istio_reference.register()
            return self._file_proto(proto_path), None
        name = module_name(proto_path)
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            return None, f"no module {name} in xds-protos ({error})"
        descriptor = getattr(module, "DESCRIPTOR", None)
        if descriptor is None or descriptor.name != proto_path:
            return None, f"module {name} does not describe {proto_path}"
        return self._file_proto(descriptor.name), None

    def _file_proto(self, file_name: str) -> FileDescriptorProto:
        file = FileDescriptorProto.FromString(self.pool.FindFileByName(file_name).serialized_pb)
        if file_name not in self._loaded_files:
            self._loaded_files.add(file_name)
            self.index.add_file(file)
        return file

    def lookup(self, full_name: str) -> Optional[tuple[str, object, FileDescriptorProto]]:
        """(kind, proto, file) of the type with this full name in Envoy's API, or None."""
        for kind, find in (
            ("message", self.pool.FindMessageTypeByName),
            ("enum", self.pool.FindEnumTypeByName),
            ("service", self.pool.FindServiceByName),
        ):
            try:
                descriptor = find(full_name)
            except KeyError:
                continue
            self._file_proto(descriptor.file.name)
            return self.index.types.get(full_name)
        return None


# --- Describing fields -------------------------------------------------------------------------------------


def type_text(field_proto: FDP) -> str:
    if field_proto.type in (FDP.TYPE_MESSAGE, FDP.TYPE_ENUM):
        return field_proto.type_name.lstrip(".")
    return SCALAR_NAMES.get(field_proto.type, f"type#{field_proto.type}")


def map_entry(field_proto: FDP, find_message: Callable[[str], Optional[DescriptorProto]]) -> Optional[DescriptorProto]:
    if field_proto.type != FDP.TYPE_MESSAGE or field_proto.label != FDP.LABEL_REPEATED:
        return None
    entry = find_message(field_proto.type_name)
    if entry is not None and entry.options.map_entry:
        return entry
    return None


def map_text(entry: DescriptorProto) -> str:
    fields = {f.name: f for f in entry.field}
    return f"map<{type_text(fields['key'])}, {type_text(fields['value'])}>"


def oneof_name(field_proto: FDP, message: DescriptorProto) -> Optional[str]:
    """The name of the real (not synthetic proto3-optional) oneof the field belongs to."""
    if not field_proto.HasField("oneof_index") or field_proto.proto3_optional:
        return None
    return message.oneof_decl[field_proto.oneof_index].name


def label_text(field_proto: FDP) -> str:
    return "repeated" if field_proto.label == FDP.LABEL_REPEATED else "singular"


# --- Comparing ---------------------------------------------------------------------------------------------


class Checker:
    def __init__(self, descriptor_set: descriptor_pb2.FileDescriptorSet, files: list[str]) -> None:
        self.mine = TypeIndex()
        self.files = {}
        for file in descriptor_set.file:
            self.mine.add_file(file)
            self.files[file.name] = file
        self.checked_files = files
        self.envoy = EnvoyDescriptors()
        self.report = Report()

    def diff(self, file: str, what: str, text: str) -> None:
        self.report.differences.append(f"{file}: {what}: {text}")

    def run(self) -> Report:
        for path in self.checked_files:
            file = self.files.get(path)
            if file is None:
                raise CheckError(f"{path} is missing from the compiled descriptor set")
            self.check_file(file)
        return self.report

    def check_file(self, file: FileDescriptorProto) -> None:
        self.report.files.append(file.name)
        envoy_file, error = self.envoy.import_file(file.name)
        if error:
            self.diff(file.name, file.name, f"{error}; not a file of Envoy's API")
        elif envoy_file.package != file.package:
            self.diff(file.name, file.name, f"package {file.package} in Protos/, {envoy_file.package} in Envoy")
        if file.syntax != "proto3":
            self.diff(file.name, file.name, f"syntax {file.syntax or 'proto2'} in Protos/, proto3 expected")
        for kind, name, proto in walk_file(file):
            if kind == "message" and proto.options.map_entry:
                continue  # compared through the map field that uses it
            real = self.envoy.lookup(name)
            if kind == "message":
                self.report.messages.append(name)
            elif kind == "enum":
                self.report.enums.append(name)
            else:
                self.report.services.append(name)
            if real is None:
                self.diff(file.name, name, f"{kind} not in Envoy")
                continue
            real_kind, real_proto, real_file = real
            if real_kind != kind:
                self.diff(file.name, name, f"{kind} in Protos/, {real_kind} in Envoy")
                continue
            if real_file.name != file.name:
                self.diff(file.name, name, f"declared in {file.name} in Protos/, {real_file.name} in Envoy")
            if real_file.package != file.package:
                self.diff(file.name, name, f"package {file.package} in Protos/, {real_file.package} in Envoy")
            if kind == "message":
                self.check_message(file.name, name, proto, real_proto)
            elif kind == "enum":
                self.check_enum(file.name, name, proto, real_proto)
            else:
                self.check_service(file.name, name, proto, real_proto)

    def check_message(self, file: str, name: str, mine: DescriptorProto, real: DescriptorProto) -> None:
        real_by_name = {f.name: f for f in real.field}
        real_by_number = {f.number: f for f in real.field}
        for field_proto in mine.field:
            self.report.fields += 1
            where = f"{name}.{field_proto.name}"
            other = real_by_name.get(field_proto.name)
            if other is None:
                other = real_by_number.get(field_proto.number)
                if other is None:
                    self.diff(file, where, f"field not in Envoy (number {field_proto.number} is not used there either)")
                    continue
                self.diff(
                    file, where,
                    f"name {field_proto.name} in Protos/, {other.name} in Envoy (field number {other.number})",
                )
            if other.number != field_proto.number:
                self.diff(file, where, f"number {field_proto.number} in Protos/, {other.number} in Envoy")
            self.check_field_type(file, where, field_proto, other)
            mine_oneof, real_oneof = oneof_name(field_proto, mine), oneof_name(other, real)
            if mine_oneof != real_oneof:
                self.diff(
                    file, where,
                    f"oneof {mine_oneof or '(none)'} in Protos/, {real_oneof or '(none)'} in Envoy",
                )
            if field_proto.proto3_optional != other.proto3_optional:
                def presence(f: FDP) -> str:
                    return "optional" if f.proto3_optional else "not optional"
                self.diff(file, where, f"{presence(field_proto)} in Protos/, {presence(other)} in Envoy")

    def check_field_type(self, file: str, where: str, mine: FDP, real: FDP) -> None:
        mine_entry = map_entry(mine, self.mine.message)
        real_entry = map_entry(real, self.envoy.index.message)
        if (mine_entry is None) != (real_entry is None):
            def shape(f: FDP, entry: Optional[DescriptorProto]) -> str:
                return map_text(entry) if entry is not None else f"{label_text(f)} {type_text(f)} (not a map)"
            self.diff(file, where, f"{shape(mine, mine_entry)} in Protos/, {shape(real, real_entry)} in Envoy")
            return
        if mine_entry is not None:
            if map_text(mine_entry) != map_text(real_entry):
                self.diff(file, where, f"type {map_text(mine_entry)} in Protos/, {map_text(real_entry)} in Envoy")
            return
        if mine.type != real.type or mine.type_name.lstrip(".") != real.type_name.lstrip("."):
            self.diff(file, where, f"type {type_text(mine)} in Protos/, {type_text(real)} in Envoy")
        if (mine.label == FDP.LABEL_REPEATED) != (real.label == FDP.LABEL_REPEATED):
            self.diff(file, where, f"{label_text(mine)} in Protos/, {label_text(real)} in Envoy")

    def check_enum(self, file: str, name: str, mine: EnumDescriptorProto, real: EnumDescriptorProto) -> None:
        real_by_name = {v.name: v for v in real.value}
        real_by_number: dict[int, descriptor_pb2.EnumValueDescriptorProto] = {}
        for value in real.value:
            real_by_number.setdefault(value.number, value)
        matched: set[str] = set()
        for value in mine.value:
            self.report.enum_values += 1
            where = f"{name}.{value.name}"
            other = real_by_name.get(value.name)
            if other is None:
                other = real_by_number.get(value.number)
                if other is None:
                    self.diff(file, where, f"value not in Envoy (number {value.number} is not used there either)")
                    continue
                self.diff(file, where, f"name {value.name} in Protos/, {other.name} in Envoy (value {other.number})")
            matched.add(other.name)
            if other.number != value.number:
                self.diff(file, where, f"number {value.number} in Protos/, {other.number} in Envoy")
        for value in real.value:
            if value.name not in matched:
                self.diff(file, f"{name}.{value.name}", f"missing in Protos/, {value.number} in Envoy")

    def check_service(
        self, file: str, name: str, mine: ServiceDescriptorProto, real: ServiceDescriptorProto
    ) -> None:
        real_methods = {m.name: m for m in real.method}
        for method in mine.method:
            self.report.rpcs += 1
            where = f"{name}.{method.name}"
            other = real_methods.get(method.name)
            if other is None:
                self.diff(file, where, "rpc not in Envoy")
                continue
            for attribute in ("input_type", "output_type"):
                a, b = getattr(method, attribute).lstrip("."), getattr(other, attribute).lstrip(".")
                if a != b:
                    self.diff(file, where, f"{attribute} {a} in Protos/, {b} in Envoy")
            for attribute in ("client_streaming", "server_streaming"):
                a, b = getattr(method, attribute), getattr(other, attribute)
                if a != b:
                    self.diff(file, where, f"{attribute} {str(a).lower()} in Protos/, {str(b).lower()} in Envoy")


def check(protos_dir: Path, protoc: str = "protoc", includes: Optional[list[str]] = None) -> Report:
    """Compiles protos_dir and compares every file under it with Envoy's descriptors."""
    protos_dir = Path(protos_dir).resolve()
    descriptor_set = compile_protos(protos_dir, protoc=protoc, includes=includes)
    return Checker(descriptor_set, proto_files(protos_dir)).run()


def xds_protos_version() -> str:
    try:
        from importlib.metadata import version

        return version("xds-protos")
    except Exception:  # pragma: no cover - only for the summary line
        return "unknown"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protos", type=Path, default=DEFAULT_PROTOS, help="the Protos/ directory (default: %(default)s)")
    parser.add_argument("--protoc", default="protoc", help="protoc to run (default: %(default)s)")
    parser.add_argument(
        "--include", action="append", dest="includes",
        help="extra -I for protoc, where google/protobuf/*.proto live (default: found in /usr/include)",
    )
    args = parser.parse_args(argv)
    try:
        report = check(args.protos, protoc=args.protoc, includes=args.includes)
    except CheckError as error:
        print(f"protocheck: error: {error}", file=sys.stderr)
        return 2
    for line in report.differences:
        print(line)
    if not report.ok:
        print(f"protocheck: {len(report.differences)} difference(s) from Envoy (xds-protos {xds_protos_version()}); "
              f"checked {report.summary()}")
        return 1
    print(f"protocheck: OK, Protos/ matches Envoy (xds-protos {xds_protos_version()}): {report.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
