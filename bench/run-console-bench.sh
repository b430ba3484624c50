#!/usr/bin/env bash
# Installs this build's kernelspec into a temp prefix (so jupyter console
# finds "ensemble") and runs bench/console_bench.py with these arguments.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${ENSEMBLE_BIN:-$(dirname "$here")/build/bin/ensemble}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ensemble-console-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$bin" kernelspec install --prefix "$tmp/prefix" --name ensemble >/dev/null
export JUPYTER_PATH="$tmp/prefix/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export ENSEMBLE_HISTORY="$tmp/history.sqlite"
/usr/bin/python3 "$here/console_bench.py" "$@"
