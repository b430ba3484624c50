#!/usr/bin/env bash
# Installs the Debian packages Ensemble needs to build, test and benchmark.
# Idempotent and quick when everything is present: dpkg-query is asked first,
# apt-get runs only for what is missing.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libzmq3-dev cppzmq-dev nlohmann-json3-dev libssl-dev libsqlite3-dev
  pybind11-dev libcli11-dev libspdlog-dev libfmt-dev libedit-dev
  libgtest-dev libgmock-dev python3-dev libjemalloc-dev
)
TEST_PACKAGES=(
  clang libclang-rt-14-dev tmux sqlite3 iproute2
  python3-pytest python3-zmq python3-jupyter-client jupyter-client jupyter-console
  python3-ipykernel python3-nbclient python3-nbformat python3-jupyter-kernel-test
  python3-ipython python3-jedi python3-debugpy python3-cloudpickle python3-numpy python3-matplotlib python3-matplotlib-inline
  python3-ipywidgets python3-tqdm xpython python3-ipyparallel python-ipyparallel-doc
  python3-joblib python3-dill python3-psutil python3-distributed
  python3-pandas openmpi-bin python3-mpi4py
)

missing=()
for pkg in "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
