#!/usr/bin/env bash
# Charts for docs/benchmarks.md from two `actr bench ws --json` outputs (before, after):
#   bash scripts/bench-charts.sh BEFORE.json AFTER.json docs/img
# Installs Debian's python3-matplotlib first if it is missing (non-interactive, idempotent).
set -euo pipefail
if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib
fi
exec /usr/bin/python3 "$(dirname "$0")/bench-charts.py" "$@"
