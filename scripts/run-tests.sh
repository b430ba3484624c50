#!/usr/bin/env bash
# Runs every test: GoogleTest units through ctest, the fuzzers briefly, then
# the pytest suites with real Jupyter peers. Assumes `make build` has run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

if [ -f "$BUILD_DIR/tests/unit/CTestTestfile.cmake" ]; then
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j 2 --timeout 120
fi

if [ -x scripts/run-fuzzers.sh ]; then
  bash scripts/run-fuzzers.sh "${FUZZ_SECONDS_IN_TESTS:-10}"
fi

export ENSEMBLE_BIN="$PWD/$BUILD_DIR/bin/ensemble"
export PYTHONPATH="$PWD/$BUILD_DIR/python${PYTHONPATH:+:$PYTHONPATH}"
status=0
/usr/bin/python3 -m pytest -p no:cacheprovider -q tests/parallel || status=$?
/usr/bin/python3 -m pytest -p no:cacheprovider -q tests/integration || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
fi
exit "$status"
