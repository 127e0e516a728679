#!/usr/bin/env bash
# Prints the path of a kube-apiserver 1.20.2 binary built from Debian bookworm's `kubernetes` source package, building
# it only when the cached copy is missing. The path is the only thing on stdout; every log line goes to stderr.
#
#   Scripts/kube-apiserver.sh            print the cached binary's path (build it first when missing)
#   Scripts/kube-apiserver.sh --rebuild  build again even when a cached binary exists
#
# Cache (outside the repository), keyed by the Debian source version:
#   ${SEXTANT_CACHE_DIR:-$HOME/.cache/sextant}/kube-apiserver/<debian-source-version>/kube-apiserver
#
# What it does when the binary is missing:
#   1. Adds deb-src entries mirroring the existing bookworm `deb` entries of /etc/apt/sources.list{,.d/*.list,.d/*.sources}
#      (same URIs, suites, components and Signed-By; no host name is written here) and runs `apt-get update`.
#   2. Installs golang-go, rsync, jq, make, dpkg-dev, golang-github-modern-go-reflect2-dev (and etcd-server, which the
#      Python harness in Tests/E2E/kube runs).
#   3. `apt-get source kubernetes=<version>` into a work directory under the cache directory.
#   4. Replaces vendor/github.com/modern-go/reflect2 with Debian's reflect2 (1.0.2): the vendored 1.0.1 breaks with
#      Go >= 1.18 and the server dies with "unexpected fault address" at the first pretty-printed response.
#   5. `make WHAT=cmd/kube-apiserver` (a plain `go build` fails: generated OpenAPI code is missing) with
#      KUBE_GIT_VERSION_FILE stamping v1.20.2 and GOPROXY=off; copies the binary into the cache; deletes the work
#      directory (the Go build cache in <cache>/go-build is kept, so a rebuild with a warm cache is much faster).
# A clean build takes ~6.5 minutes on 2 cores and peaks around 1.3 GB of memory.
set -euo pipefail

KUBE_VERSION=v1.20.2
SOURCE_PACKAGE=kubernetes
BUILD_PACKAGES=(golang-go rsync jq make dpkg-dev golang-github-modern-go-reflect2-dev)
RUNTIME_PACKAGES=(etcd-server)
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2

log() { printf 'kube-apiserver.sh [%ss]: %s\n' "$SECONDS" "$*" >&2; }
die() { log "error: $*"; exit 1; }

rebuild=0
case "${1:-}" in
  --rebuild) rebuild=1 ;;
  "") ;;
  *) echo "usage: $0 [--rebuild]" >&2; exit 2 ;;
esac

if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

cache_root=${SEXTANT_CACHE_DIR:-$HOME/.cache/sextant}
cache_dir=$cache_root/kube-apiserver
mkdir -p "$cache_dir" || die "cannot create the cache directory $cache_dir"

# One build at a time (several test sessions may call this at once); the second caller waits, then finds the binary.
exec 9>"$cache_dir/.lock"
if ! flock -n 9; then
  log "another kube-apiserver.sh holds $cache_dir/.lock; waiting for it"
  flock 9
fi

apt_updated=0
apt_update() {
  log "apt-get update"
  "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
  apt_updated=1
}

ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  if [ "$apt_updated" = 0 ]; then apt_update; fi
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
}

# Writes /etc/apt/sources.list.d/sextant-deb-src.{list,sources}: a deb-src twin of every enabled bookworm* `deb`
# entry that has the main component, in the same format as the entry it copies. Host names come from the existing
# apt configuration only.
write_deb_src() {
  local tmp
  tmp=$(mktemp -d)
  python3 - "$tmp" <<'PY' >&2 || die "could not derive deb-src entries from the apt sources"
import glob, os, re, sys

out = sys.argv[1]
ours = ("sextant-deb-src.list", "sextant-deb-src.sources")


def wanted(suite, components):
    return suite.split("/")[0].startswith("bookworm") and "main" in components


# Every enabled entry as (format, types, uris, suites, components, options/fields).
entries = []
# One-line format: deb [options] uri suite component...
for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    if os.path.basename(path) in ours or not os.path.isfile(path):
        continue
    for raw in open(path, encoding="utf-8", errors="replace"):
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"^(deb|deb-src)\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
        if m:
            entries.append(("list", [m.group(1)], [m.group(3)], [m.group(4)], m.group(5).split(), m.group(2) or ""))
# deb822 format: stanzas separated by blank lines, "Key: value" with indented continuation lines.
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    if os.path.basename(path) in ours:
        continue
    text = open(path, encoding="utf-8", errors="replace").read()
    for block in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for raw in block.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:
                fields[key] += "\n" + raw.strip()
            elif ":" in raw:
                key, value = raw.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        entries.append(("sources", fields.get("types", "").split(), fields.get("uris", "").split(),
                        fields.get("suites", "").split(), fields.get("components", "").split(), fields))

# (uri, suite) pairs that already have a deb-src entry are not repeated (apt would warn about duplicates).
have_src = {(u.rstrip("/"), s) for _, types, uris, suites, _, _ in entries if "deb-src" in types
            for u in uris for s in suites}


def missing(uris, suite):
    return not all((u.rstrip("/"), suite) in have_src for u in uris)


one_line, deb822 = [], []
for fmt, types, uris, suites, components, extra in entries:
    if "deb" not in types:
        continue
    suites = [s for s in suites if wanted(s, components) and missing(uris, s)]
    if not suites:
        continue
    if fmt == "list":
        one_line.append(f"deb-src {extra}{uris[0]} {suites[0]} main")
        continue
    stanza = ["Types: deb-src", f"URIs: {' '.join(uris)}", f"Suites: {' '.join(suites)}", "Components: main"]
    for name in ("signed-by", "architectures", "trusted", "check-valid-until"):
        if name in extra:
            value = extra[name].replace("\n", "\n ")  # an inline key block keeps its continuation lines
            stanza.append(f"{'-'.join(p.capitalize() for p in name.split('-'))}: {value}")
    deb822.append("\n".join(stanza))

if not one_line and not deb822:
    if any("deb" in e[1] and any(wanted(s, e[4]) for s in e[3]) for e in entries):
        sys.exit(0)  # every bookworm main entry already has its deb-src twin
    sys.exit("no enabled bookworm `deb` entry with the main component in /etc/apt/sources.list{,.d/*}")
header = "# Written by Sextant's Scripts/kube-apiserver.sh: deb-src twins of the existing bookworm `deb` entries.\n"
if one_line:
    open(os.path.join(out, ours[0]), "w").write(header + "\n".join(dict.fromkeys(one_line)) + "\n")
if deb822:
    open(os.path.join(out, ours[1]), "w").write(header + "\n\n".join(dict.fromkeys(deb822)) + "\n")
PY
  local f changed=0
  for f in sextant-deb-src.list sextant-deb-src.sources; do
    if [ -f "$tmp/$f" ]; then
      if ! cmp -s "$tmp/$f" "/etc/apt/sources.list.d/$f"; then
        log "writing /etc/apt/sources.list.d/$f"
        "${sudo[@]}" install -m 0644 "$tmp/$f" "/etc/apt/sources.list.d/$f"
        changed=1
      fi
    elif [ -f "/etc/apt/sources.list.d/$f" ]; then
      "${sudo[@]}" rm -f "/etc/apt/sources.list.d/$f"
      changed=1
    fi
  done
  rm -rf "$tmp"
  return $(( changed == 0 ))  # 0 (true) when the apt configuration changed
}

# The version `apt-get source kubernetes` would fetch (highest source version known to apt), or nothing.
source_version() {
  { apt-cache showsrc --only-source "$SOURCE_PACKAGE" 2>/dev/null || true; } | awk '/^Version: /{print $2}' | sort -u \
    | { best=""; while read -r v; do
          if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
        done; printf '%s' "$best"; }
}

version=$(source_version)
if [ -z "$version" ]; then
  log "no source index for '$SOURCE_PACKAGE' yet: adding deb-src entries"
  command -v python3 >/dev/null || ensure_packages python3
  write_deb_src || true
  apt_update
  version=$(source_version)
fi
[ -n "$version" ] || die "apt knows no source package '$SOURCE_PACKAGE' (are deb-src entries for bookworm main configured?)"
case "$version" in
  *1.20.*) ;;
  *) die "source package $SOURCE_PACKAGE $version is not a 1.20.x release (expected Debian bookworm's 1.20.5+really1.20.2)" ;;
esac

ensure_packages "${RUNTIME_PACKAGES[@]}"

target_dir=$cache_dir/$version
target=$target_dir/kube-apiserver
if [ "$rebuild" = 0 ] && [ -x "$target" ] && [ -s "$target" ]; then
  log "cached: $target"
  printf '%s\n' "$target"
  exit 0
fi

# ---------------------------------------------------------------------------------------------------------------
# Build

started=$(date +%s)
ensure_packages "${BUILD_PACKAGES[@]}"
[ -d "$REFLECT2_SRC" ] || die "$REFLECT2_SRC missing (package golang-github-modern-go-reflect2-dev)"
command -v go >/dev/null || die "go not found after installing golang-go"

# A fixed work directory (guarded by the lock): the build passes -trimpath=<source root> to the compiler, so the Go
# build cache only hits when the source tree sits at the same path as last time. A leftover of a killed build goes.
work=$cache_dir/build
rm -rf "$work"
mkdir -p "$work"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

log "building kube-apiserver $KUBE_VERSION from $SOURCE_PACKAGE $version in $work ($(go version))"
cd "$work"
# apt-get source runs as root here; the _apt sandbox cannot write into the work dir, hence the chmod.
chmod 0755 "$work"
apt-get source -qq "$SOURCE_PACKAGE=$version" >&2 || die "apt-get source $SOURCE_PACKAGE=$version failed"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name "${SOURCE_PACKAGE}-*" | head -n 1)
[ -n "$src" ] && [ -f "$src/Makefile" ] || die "no unpacked source tree with a Makefile in $work"

vendored=$src/vendor/github.com/modern-go/reflect2
[ -d "$vendored" ] || die "vendored reflect2 not found at $vendored"
log "replacing $vendored with Debian's reflect2 ($REFLECT2_SRC)"
find "$vendored" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
copied=0
for f in "$REFLECT2_SRC"/*.go "$REFLECT2_SRC"/*.s; do
  [ -f "$f" ] || continue
  case "$f" in *_test.go) continue ;; esac
  cp "$f" "$vendored/"
  copied=$((copied + 1))
done
[ "$copied" -gt 0 ] || die "no .go/.s files copied from $REFLECT2_SRC"

version_file=$work/version.env
cat >"$version_file" <<EOF
KUBE_GIT_COMMIT='faecb196815e248d3ecfb03c680a4507229c2a56'
KUBE_GIT_TREE_STATE='clean'
KUBE_GIT_VERSION='$KUBE_VERSION'
KUBE_GIT_MAJOR='1'
KUBE_GIT_MINOR='20'
EOF

# hack/lib/golang.sh forces GOCACHE=_output/local/go/cache, which the clean-up would delete: point it at a cache
# directory that outlives the build tree.
gocache=$cache_root/go-build
mkdir -p "$gocache" "$src/_output/local/go"
ln -sfn "$gocache" "$src/_output/local/go/cache"
log "make WHAT=cmd/kube-apiserver (Go build cache: $gocache)"
(
  cd "$src"
  # GOFLAGS stays empty: hack/lib/golang.sh parses it for -tags and would turn e.g. -mod=vendor into a build tag
  # (go.mod says go 1.15 and vendor/modules.txt exists, so -mod=vendor is the default anyway).
  env -u GO111MODULE GOPROXY=off GOFLAGS= KUBE_GIT_VERSION_FILE="$version_file" KUBE_VERBOSE=1 \
    make WHAT=cmd/kube-apiserver
) >&2 || die "make WHAT=cmd/kube-apiserver failed (log above)"

built=""
for candidate in "$src/_output/bin/kube-apiserver" "$src/_output/local/bin/linux/$(go env GOARCH)/kube-apiserver" \
                 "$src/_output/local/go/bin/kube-apiserver"; do
  if [ -x "$candidate" ]; then built=$candidate; break; fi
done
[ -n "$built" ] || die "make finished but no kube-apiserver binary under $src/_output"

reported=$("$built" --version 2>&1 || true)
case "$reported" in
  *"$KUBE_VERSION"*) ;;
  *) die "built binary reports '$reported', expected $KUBE_VERSION" ;;
esac

mkdir -p "$target_dir"
cp "$built" "$target_dir/.kube-apiserver.tmp"
chmod 0755 "$target_dir/.kube-apiserver.tmp"
mv -f "$target_dir/.kube-apiserver.tmp" "$target"
log "built $target ($reported) in $(( $(date +%s) - started ))s; removing the build tree"
cleanup
trap - EXIT
log "done"
printf '%s\n' "$target"
