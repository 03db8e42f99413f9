#!/usr/bin/env bash
# The project's test command: set-up, then every test against the real engines (embedded
# nats-server with JetStream, the embedded ClickHouse engine through clickhouse-go), then the
# race detector on the packages with concurrency. Extra arguments go to the first `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
go vet ./...
go test -count=1 -timeout 20m "$@" ./...
CGO_ENABLED=1 go test -count=1 -race -timeout 20m ./bus/... ./ingest/... ./directory/... ./rules/... ./notify/... ./respond/... ./detect/... ./bench/...
