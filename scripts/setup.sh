#!/usr/bin/env bash
# Installs what breachd needs on a fresh Debian machine. Idempotent; fast when already done.
#   - Go modules (go mod download)
#   - the embedded ClickHouse engine: libchdb.so from npm @chdb/lib-linux-x64-gnu (pinned),
#     cached outside the repo in ${XDG_CACHE_HOME:-~/.cache}/breachd/chdb-<version>/
#   - Debian packages the tests use (installed only when missing), among them chromium for
#     the console's browser tests
#   - axe-core (the accessibility checker the browser tests run in the page) from npm
#     axe-core (pinned), cached in ${XDG_CACHE_HOME:-~/.cache}/breachd/axe-core-<version>/axe.min.js
#   - builds bin/breachd
# Environment: BREACHD_CHDB_LIB=/path/libchdb.so skips the download and uses that library.
set -euo pipefail
cd "$(dirname "$0")/.."

CHDB_VERSION=26.5.3
CHDB_SHA1=3e52ecb7d894d9ebb1a6a50ac03f64208cc65501 # of chdb-lib-linux-x64-gnu-26.5.3.tgz
AXE_VERSION=4.14.1
AXE_SHA1=14d8a6f3f085afd126b8b5ca1e42e50e17fb1d99 # of axe-core-4.14.1.tgz
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/breachd"
CHDB_DIR="$CACHE/chdb-$CHDB_VERSION"
AXE_DIR="$CACHE/axe-core-$AXE_VERSION"
# Debian packages the tests use: kcat (an independent Kafka client), slapd (an LDAP server),
# chromium (the headless browser of the console's tests, package e2e)
APT_PACKAGES=(kcat slapd chromium)

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

command -v go >/dev/null || die "Go is not installed (need Go 1.26: https://go.dev/dl/ or /usr/local/go/bin on PATH)"

apt_missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$p")
done
if ! command -v npm >/dev/null && { { [ -z "${BREACHD_CHDB_LIB:-}" ] && [ ! -f "$CHDB_DIR/package/libchdb.so" ]; } || [ ! -f "$AXE_DIR/axe.min.js" ]; }; then
  apt_missing+=(nodejs npm)
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${apt_missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

# npm_fetch NAME VERSION SHA1: npm pack NAME@VERSION into a new temporary folder under the cache,
# check the tarball's SHA-1 and print the folder (the caller unpacks what it needs, then removes it).
npm_fetch() {
  local name=$1 version=$2 sha1=$3 tmp tgz got
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.npm-XXXXXX")
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null 2>npm.log) \
    || { cat "$tmp/npm.log" >&2; rm -rf "$tmp"; die "npm pack $name@$version failed"; }
  tgz=$(ls "$tmp"/*.tgz)
  got=$(sha1sum "$tgz" | cut -d' ' -f1)
  [ "$got" = "$sha1" ] || { rm -rf "$tmp"; die "checksum mismatch for $tgz: got $got, want $sha1"; }
  echo "$tmp"
}

if [ -n "${BREACHD_CHDB_LIB:-}" ]; then
  [ -f "$BREACHD_CHDB_LIB" ] || die "BREACHD_CHDB_LIB=$BREACHD_CHDB_LIB does not exist"
  say "chDB library: $BREACHD_CHDB_LIB (from BREACHD_CHDB_LIB)"
elif [ -f "$CHDB_DIR/package/libchdb.so" ]; then
  say "chDB library: $CHDB_DIR/package/libchdb.so (cached)"
else
  say "downloading the embedded ClickHouse engine (npm @chdb/lib-linux-x64-gnu@$CHDB_VERSION, ~166 MB)"
  tmp=$(npm_fetch @chdb/lib-linux-x64-gnu "$CHDB_VERSION" "$CHDB_SHA1")
  mkdir -p "$tmp/x" && tar -xzf "$tmp"/*.tgz -C "$tmp/x" package/libchdb.so package/package.json
  rm -rf "$CHDB_DIR" && mv "$tmp/x" "$CHDB_DIR" && rm -rf "$tmp"
  say "chDB library: $CHDB_DIR/package/libchdb.so"
fi

if [ -f "$AXE_DIR/axe.min.js" ]; then
  say "axe-core: $AXE_DIR/axe.min.js (cached)"
else
  say "downloading axe-core (npm axe-core@$AXE_VERSION, ~0.7 MB) for the browser tests"
  tmp=$(npm_fetch axe-core "$AXE_VERSION" "$AXE_SHA1")
  mkdir -p "$tmp/x" && tar -xzf "$tmp"/*.tgz -C "$tmp/x" --strip-components=1 package/axe.min.js package/LICENSE
  rm -rf "$AXE_DIR" && mv "$tmp/x" "$AXE_DIR" && rm -rf "$tmp"
  say "axe-core: $AXE_DIR/axe.min.js"
fi

go mod download
mkdir -p bin
CGO_ENABLED=0 go build -o bin/breachd ./cmd/breachd
say "built bin/breachd"
