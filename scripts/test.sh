#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against a real PostgreSQL
# (a private cluster under target/tmp/pg unless DATABASE_URL is set; each
# test gets its own database) and browser tests in headless Chromium.
# Screenshots land in target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh server browser schemathesis

cluster=target/tmp/pg/postgres
pg_ctl() {
  local bin
  bin=$(compgen -G "/usr/lib/postgresql/*/bin" | sort -V | tail -n 1)
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$bin/pg_ctl" "$@"
  else
    "$bin/pg_ctl" "$@"
  fi
}
stop_cluster() {
  if [ -f "$cluster/postmaster.pid" ]; then
    pg_ctl stop -D "$cluster" -m fast -w -s >/dev/null 2>&1 || true
  fi
}

if [ -z "${DATABASE_URL:-}" ]; then
  # Start each run from a clean cluster, so nothing from a crashed run remains.
  stop_cluster
  rm -rf target/tmp/pg
  trap stop_cluster EXIT
fi
cargo test --locked --all-targets "$@"
