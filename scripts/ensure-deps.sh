#!/usr/bin/env bash
# Installs what Stagecoach needs from Debian's packages when it is missing:
#   server  - PostgreSQL server binaries (for the private cluster) and libpq
#   browser - Chromium and ChromeDriver (for the browser tests)
# Usage: scripts/ensure-deps.sh [server] [browser]
set -euo pipefail

want_server=false
want_browser=false
for arg in "${@:-server}"; do
  case "$arg" in
    server) want_server=true ;;
    browser) want_browser=true ;;
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
[ ${#missing[@]} -eq 0 ] && exit 0

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
