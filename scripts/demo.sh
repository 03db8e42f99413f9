#!/usr/bin/env bash
# Set-up, then the all-in-one demo: embedded NATS JetStream, the embedded ClickHouse engine and
# a simulated school day with injected breaches. Extra arguments go to `breachd run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec bin/breachd run --demo "$@"
