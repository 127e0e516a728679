#!/usr/bin/env bash
# Regenerates from Protos/ the Swift in Sources/EnvoyAPI (Envoy's messages and google.rpc), Sources/EnvoyServices
# (Envoy's gRPC services: ADS, CSDS) and Sources/IstioAPI (Istio's CA service and messages, Protos/security).
#
#   Scripts/generate-protos.sh          rewrite Sources/{EnvoyAPI,EnvoyServices,IstioAPI}/*.swift
#   Scripts/generate-protos.sh --check  fail (exit 1) when the committed Swift differs from what Protos/ generates
#
# Uses Debian's protoc (package protobuf-compiler; well-known types from /usr/include) and the protoc-gen-swift and
# protoc-gen-grpc-swift-2 plugins built from the versions Package.swift pins, in the ignored scratch path .build-protoc.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mode=write
case "${1:-}" in
  --check) mode=check ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

command -v protoc >/dev/null || { echo "generate-protos: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
[ -f /usr/include/google/protobuf/any.proto ] || {
  echo "generate-protos: well-known types missing in /usr/include/google/protobuf (apt-get install libprotobuf-dev)" >&2
  exit 1
}

scratch="$root/.build-protoc"
echo "generate-protos: building plugins in $scratch" >&2
swift build --package-path "$root" --scratch-path "$scratch" --product protoc-gen-swift >&2
swift build --package-path "$root" --scratch-path "$scratch" --product protoc-gen-grpc-swift-2 >&2
bin=$(swift build --package-path "$root" --scratch-path "$scratch" --show-bin-path)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cd "$root/Protos"
mapfile -t protos < <(find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)
mapfile -t services < <(grep -l '^service ' "${protos[@]}" | LC_ALL=C sort)

protoc -I . -I /usr/include \
  --plugin=protoc-gen-swift="$bin/protoc-gen-swift" \
  --swift_out="$out" \
  --swift_opt=Visibility=Public,FileNaming=PathToUnderscores \
  "${protos[@]}"
# The gRPC plugin writes an empty file for protos without services: run it on service files only. Envoy's services
# go to a module of their own (EnvoyServices, importing EnvoyAPI), so that EnvoyAPI is messages only and the config
# generators depend on no gRPC product; Istio's CA service stays beside its messages in IstioAPI.
envoy_services=()
istio_services=()
for file in "${services[@]}"; do
  case "$file" in
    security/*) istio_services+=("$file") ;;
    *) envoy_services+=("$file") ;;
  esac
done
mkdir -p "$out/EnvoyAPI" "$out/EnvoyServices" "$out/IstioAPI"
protoc -I . -I /usr/include \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --grpc-swift-2_out="$out/EnvoyServices" \
  --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true,FileNaming=PathToUnderscores,ExtraModuleImports=EnvoyAPI \
  "${envoy_services[@]}"
protoc -I . -I /usr/include \
  --plugin=protoc-gen-grpc-swift-2="$bin/protoc-gen-grpc-swift-2" \
  --grpc-swift-2_out="$out/IstioAPI" \
  --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true,FileNaming=PathToUnderscores \
  "${istio_services[@]}"

# Messages: Istio's protos (security/...) in IstioAPI; everything else is Envoy's API.
for file in "$out"/*.swift; do
  case "$(basename "$file")" in
    security_*) mv "$file" "$out/IstioAPI/" ;;
    *) mv "$file" "$out/EnvoyAPI/" ;;
  esac
done

status=0
for module in EnvoyAPI EnvoyServices IstioAPI; do
  target="$root/Sources/$module"
  count=$(ls "$out/$module" | wc -l)
  if [ "$mode" = check ]; then
    if diff -r -q -x README.md "$out/$module" "$target"; then
      echo "generate-protos: Sources/$module matches Protos/ ($count files)"
    else
      echo "generate-protos: Sources/$module differs from what Protos/ generates: run Scripts/generate-protos.sh" >&2
      status=1
    fi
  else
    mkdir -p "$target"
    find "$target" -name '*.swift' -delete
    cp "$out/$module"/*.swift "$target"/
    echo "generate-protos: wrote $count files to Sources/$module"
  fi
done
exit $status
