#!/usr/bin/env bash
# Installs the ensemble kernelspec from build/bin/ensemble into a temp prefix,
# points JUPYTER_PATH and ENSEMBLE_HISTORY there, and runs kernel_bench.py with
# this script's arguments, e.g.:
#   bench/run.sh --quick
#   bench/run.sh --kernels ensemble,xpython,python3 --json out.json --markdown out.md
# ENSEMBLE_BIN overrides the binary. Nothing is built here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
bin="${ENSEMBLE_BIN:-$root/build/bin/ensemble}"
py=/usr/bin/python3   # Debian's: has jupyter_client, pyzmq, ipykernel

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ensemble-bench-spec.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if [ -x "$bin" ]; then
  "$bin" kernelspec install --prefix "$tmp/prefix" --name ensemble >/dev/null
  export JUPYTER_PATH="$tmp/prefix/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
else
  echo "run.sh: $bin not found or not executable; ensemble will be skipped" >&2
fi
export ENSEMBLE_HISTORY="$tmp/history.sqlite"

# not exec: the EXIT trap must still remove the temp prefix afterwards
"$py" "$here/kernel_bench.py" "$@"
