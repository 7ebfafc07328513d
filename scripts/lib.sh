# Shared helpers for the Civitas scripts. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="${CIVITAS_VAR:-$ROOT/var}"
CACHE="${CIVITAS_CACHE:-$HOME/.cache/civitas}"
export CIVITAS_VAR="$VAR"
say() { printf '\033[1m[civitas]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[civitas] error:\033[0m %s\n' "$*" >&2; exit 1; }
