# The two commands: `make run` and `make test`. Both install what they need.
BUILD_DIR ?= build
PREFIX ?= /usr/local
PYTHON := /usr/bin/python3
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
# ccache hits across clones (CI builds in a fresh folder each time).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all deps build run test unit-test integration-test fuzz install clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DPython3_EXECUTABLE=$(PYTHON) -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@bash scripts/run-console.sh

test: build
	bash scripts/run-tests.sh

fuzz: deps
	bash scripts/run-fuzzers.sh $(FUZZ_SECONDS)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)
	$(PREFIX)/bin/ensemble kernelspec install --prefix $(PREFIX)

clean:
	rm -rf $(BUILD_DIR)
