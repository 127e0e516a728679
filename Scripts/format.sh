#!/usr/bin/env bash
# Formats (or, with --lint, checks) our own Swift with the toolchain's swift-format and .swift-format.
#
#   Scripts/format.sh         rewrite files in place
#   Scripts/format.sh --lint  fail (exit 1) on any finding (swift format lint --strict)
#
# Generated code (Sources/EnvoyAPI, Sources/EnvoyServices, Sources/IstioAPI) is left out: Scripts/generate-protos.sh
# owns it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mapfile -t paths < <(
  { ls -d Sources/*/ | grep -v -E '^Sources/(EnvoyAPI|EnvoyServices|IstioAPI)/$'; echo Tests/; echo Package.swift; } | sed 's|/$||'
)
case "${1:-}" in
  --lint) swift format lint --strict --parallel --configuration .swift-format --recursive "${paths[@]}" ;;
  "") swift format format --in-place --parallel --configuration .swift-format --recursive "${paths[@]}" ;;
  *) echo "usage: $0 [--lint]" >&2; exit 2 ;;
esac
