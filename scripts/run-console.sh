#!/usr/bin/env bash
# `make run`: the Ensemble console on a fresh Ensemble kernel from this build.
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/bin/ensemble console "$@"
