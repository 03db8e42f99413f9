#!/usr/bin/env bash
# Installs what breachd needs on a fresh Debian machine. Idempotent; fast when already done.
#   - Go modules (go mod download)
#   - the embedded ClickHouse engine: libchdb.so from npm @chdb/lib-linux-x64-gnu (pinned),
#     cached outside the repo in ${XDG_CACHE_HOME:-~/.cache}/breachd/chdb-<version>/
#   - Debian packages the tests use (installed only when missing)
#   - builds bin/breachd
# Environment: BREACHD_CHDB_LIB=/path/libchdb.so skips the download and uses that library.
set -euo pipefail
cd "$(dirname "$0")/.."

CHDB_VERSION=26.5.3
CHDB_SHA1=3e52ecb7d894d9ebb1a6a50ac03f64208cc65501 # of chdb-lib-linux-x64-gnu-26.5.3.tgz
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/breachd"
CHDB_DIR="$CACHE/chdb-$CHDB_VERSION"
APT_PACKAGES=(kcat slapd) # Debian packages the tests use: kcat (an independent Kafka client), slapd (an LDAP server)

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

command -v go >/dev/null || die "Go is not installed (need Go 1.26: https://go.dev/dl/ or /usr/local/go/bin on PATH)"

apt_missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$p")
done
if ! command -v npm >/dev/null && [ -z "${BREACHD_CHDB_LIB:-}" ] && [ ! -f "$CHDB_DIR/package/libchdb.so" ]; then
  apt_missing+=(nodejs npm)
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${apt_missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

if [ -n "${BREACHD_CHDB_LIB:-}" ]; then
  [ -f "$BREACHD_CHDB_LIB" ] || die "BREACHD_CHDB_LIB=$BREACHD_CHDB_LIB does not exist"
  say "chDB library: $BREACHD_CHDB_LIB (from BREACHD_CHDB_LIB)"
elif [ -f "$CHDB_DIR/package/libchdb.so" ]; then
  say "chDB library: $CHDB_DIR/package/libchdb.so (cached)"
else
  say "downloading the embedded ClickHouse engine (npm @chdb/lib-linux-x64-gnu@$CHDB_VERSION, ~166 MB)"
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.chdb-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "@chdb/lib-linux-x64-gnu@$CHDB_VERSION" >/dev/null 2>npm.log) \
    || { cat "$tmp/npm.log" >&2; die "npm pack @chdb/lib-linux-x64-gnu@$CHDB_VERSION failed"; }
  tgz="$tmp/chdb-lib-linux-x64-gnu-$CHDB_VERSION.tgz"
  got=$(sha1sum "$tgz" | cut -d' ' -f1)
  [ "$got" = "$CHDB_SHA1" ] || die "checksum mismatch for $tgz: got $got, want $CHDB_SHA1"
  mkdir -p "$tmp/x" && tar -xzf "$tgz" -C "$tmp/x" package/libchdb.so package/package.json
  rm -rf "$CHDB_DIR" && mv "$tmp/x" "$CHDB_DIR"
  say "chDB library: $CHDB_DIR/package/libchdb.so"
fi

go mod download
mkdir -p bin
CGO_ENABLED=0 go build -o bin/breachd ./cmd/breachd
say "built bin/breachd"
