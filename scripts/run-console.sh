#!/usr/bin/env bash
# `make run`: an interactive console on a fresh Ensemble kernel. Until the
# Ensemble console lands this is Jupyter's own console, pointed at a
# kernelspec that runs this build.
set -euo pipefail
cd "$(dirname "$0")/.."
spec_root=$(mktemp -d)
trap 'rm -rf "$spec_root"' EXIT
build/bin/ensemble kernelspec install --prefix "$spec_root" --name ensemble >/dev/null
export JUPYTER_PATH="$spec_root/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
/usr/bin/python3 -m jupyter_console --kernel ensemble "$@"
