#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each for
# SECONDS (default 60). `make test` runs them briefly; `make fuzz` as long as asked.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DPython3_EXECUTABLE=/usr/bin/python3 \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENSEMBLE_BUILD_TESTS=OFF -DENSEMBLE_BUILD_FUZZERS=ON >/dev/null
fi
cmake --build "$build" --target codec_fuzzer connection_file_fuzzer -j "$(nproc)"
for fuzzer in codec_fuzzer connection_file_fuzzer; do
  corpus=$(mktemp -d)
  cp -r "tests/fuzz/corpus/${fuzzer%_fuzzer}/." "$corpus/"
  echo "fuzzing $fuzzer for ${seconds}s"
  "$build/bin/$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=0 \
    -artifact_prefix="$corpus/" "$corpus" 2>"$corpus/log" || {
    tail -40 "$corpus/log"
    echo "fuzzer $fuzzer found a crash; input kept in $corpus" >&2
    exit 1
  }
  tail -1 "$corpus/log"
  rm -rf "$corpus"
done
