#!/usr/bin/env bash
# Regenerate requirements.lock from a clean install of pyproject.toml's pinned direct dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q -e '.[dev]'
{ echo "# Pinned versions of every package installed (direct and transitive). Regenerate: scripts/lock.sh"
  "$tmp/venv/bin/pip" freeze --exclude-editable | grep -vi '^tinhso'; } > requirements.lock
rm -rf "$tmp"
