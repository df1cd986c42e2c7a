#!/usr/bin/env bash
# Installs what Stagecoach needs from Debian's packages when it is missing:
#   server  - PostgreSQL server binaries (for the private cluster) and libpq
#   browser - Chromium and ChromeDriver (for the browser tests)
#   schemathesis - schemathesis from PyPI, pinned by
#             scripts/schemathesis-requirements.txt, in a virtualenv under
#             target/tools/schemathesis (for tests/app/schemathesis.rs)
#   fuzz    - a C++ compiler, for libFuzzer (fuzz/run)
# Usage: scripts/ensure-deps.sh [server] [browser] [schemathesis] [fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."

want_server=false
want_browser=false
want_schemathesis=false
want_fuzz=false
for arg in "${@:-server}"; do
  case "$arg" in
    server) want_server=true ;;
    browser) want_browser=true ;;
    schemathesis) want_schemathesis=true ;;
    fuzz) want_fuzz=true ;;
    *) echo "unknown dependency group: $arg" >&2; exit 2 ;;
  esac
done

missing=()
if $want_server; then
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  [ -e /usr/lib/x86_64-linux-gnu/libpq.so ] || [ -n "$(command -v pg_config || true)" ] || missing+=(libpq-dev)
  command -v runuser >/dev/null || missing+=(util-linux)
fi
if $want_browser; then
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
fi
if $want_schemathesis; then
  command -v python3 >/dev/null || missing+=(python3 python3-venv)
fi
if $want_fuzz; then
  command -v c++ >/dev/null || missing+=(g++)
fi

install_schemathesis() {
  local venv=target/tools/schemathesis
  local pins=scripts/schemathesis-requirements.txt
  # Reinstalled when the pins change.
  if [ -x "$venv/bin/schemathesis" ] && cmp -s "$pins" "$venv/installed-from.txt"; then
    return
  fi
  echo "installing schemathesis into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$pins"
  cp "$pins" "$venv/installed-from.txt"
}

if [ ${#missing[@]} -eq 0 ]; then
  if $want_schemathesis; then install_schemathesis; fi
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "missing Debian packages: ${missing[*]} (install them as root)" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if $want_schemathesis; then install_schemathesis; fi
