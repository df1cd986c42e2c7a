#!/usr/bin/env bash
# Starts Stagecoach at http://127.0.0.1:8080 (STAGECOACH_BIND to change).
# Without DATABASE_URL it runs a private PostgreSQL in ./.stagecoach.
# Extra arguments go to `stagecoach serve`, e.g. `scripts/run.sh --demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh server
exec cargo run --release --locked --bin stagecoach -- serve "$@"
