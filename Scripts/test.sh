#!/usr/bin/env bash
# The test command (README.md): installs what the tests need, then runs every tier.
#
# 1. Debian packages (apt-get) and a pinned Python virtual environment in .venv (ignored by git).
# 2. Scripts/generate-protos.sh --check: the committed Swift in Sources/{EnvoyAPI,EnvoyServices,IstioAPI} matches Protos/.
# 3. swift format lint --strict over our own Sources/ and Tests/ (.swift-format; generated code excluded), and
#    Scripts/check-architecture.py (the module table in Docs/architecture.md equals Package.swift; generation is pure).
#    swift build: fails on any compiler warning from our own Sources/ or Tests/.
# 4. swift test: unit tests.
# 4b. Scripts/fuzz.sh --replay and --all 10: the fuzz corpora through the normal build, then libFuzzer briefly on
#    each target (a second build with --sanitize=fuzzer in .build-fuzz).
# 5. pytest Tests/Conformance: Protos/ against Envoy's real descriptors (PyPI xds-protos).
# 6. Scripts/kube-apiserver.sh: a real kube-apiserver 1.20.2, built from Debian's source package on first use and
#    cached under ~/.cache/sextant (SEXTANT_CACHE_DIR), plus Debian's etcd.
# 7. pytest Tests/E2E: real peers (Envoy, grpcio, kube-apiserver) against a running sextant.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "Debian packages"
packages=(protobuf-compiler libprotobuf-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "Python environment (.venv, Tests/requirements.txt)"
stamp=.venv/.requirements.sha256
want=$(sha256sum Tests/requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r Tests/requirements.txt
  echo "$want" > "$stamp"
fi

step "Generated code matches Protos/"
Scripts/generate-protos.sh --check

step "swift format lint (.swift-format); Docs/architecture.md's module table is Package.swift's"
Scripts/format.sh --lint
python3 Scripts/check-architecture.py

step "swift build (no warnings from our targets)"
log=$(mktemp)
swift build 2>&1 | tee "$log"
if grep -E "^$root/(Sources|Tests)/[^:]+:[0-9]+:[0-9]+: warning:" "$log" | grep -v -E "^$root/Sources/(EnvoyAPI|EnvoyServices|IstioAPI)/"; then
  echo "swift build printed warnings from our own targets (above)" >&2
  exit 1
fi
rm -f "$log"

step "swift test"
swift test

step "fuzz: every committed corpus and crash input replayed, then each libFuzzer target for 10 s"
Scripts/fuzz.sh --replay
Scripts/fuzz.sh --all 10

step "conformance: Protos/ against Envoy's descriptors"
.venv/bin/python -m pytest -q Tests/Conformance

step "kube-apiserver 1.20.2 for the end-to-end tier (built from Debian's source once, then cached)"
SEXTANT_KUBE_APISERVER=$(Scripts/kube-apiserver.sh)
export SEXTANT_KUBE_APISERVER

step "end-to-end: real Envoy, grpcio and kube-apiservers against sextant"
.venv/bin/python -m pytest -q Tests/E2E

step "all tiers passed"
