// Package manifests loads the deployment manifests under deploy/ the way their tools would,
// for the tests that validate them; no Docker or Kubernetes is needed.
//
//   - deploy/compose/compose.yaml: LoadCompose runs compose-go (the loader of `docker compose`:
//     schema, interpolation with deploy/compose/env.example, normalisation, consistency).
//   - deploy/k8s: BuildKustomize runs kustomize's krusty (what `kubectl apply -k` applies),
//     with the secrets' example files standing in for the real ones, and DecodeObjects decodes
//     every object strictly into the k8s.io/api types (an unknown field fails).
//   - BreachdCommands lists every breachd command line of both, with the environment each
//     container gets, so that cmd/breachd's tests parse them with the real commands.
//
// The tests of this package check what the loaders cannot: health checks and probes, restart
// policies and dependencies, secrets' modes and owners, resources and their sizing, selectors,
// disruption budgets, network policies, ports against the flags, and that the NATS
// configurations (Compose's, and the values for the nats-io/k8s chart) hold the users and
// permissions of deploy.NATSPermissions. The init containers' script that copies secret files
// for breachd is run with sh on a directory laid out as a secret volume, and what it leaves
// must pass breachd's own check (package secretfile), as must the secret files that
// deploy/README.md's steps make from the examples. Compose secrets must be file: sources on
// breachd's read-only services (Compose copies the others into the container, which fails
// there). The ClickHouse health queries are run on the embedded engine (package history/chdb):
// they fail until the database exists. deploy/compose/nats-accounts.conf and
// deploy/k8s/nats/values.yaml are generated from it: go test ./deploy/manifests -update.
package manifests
