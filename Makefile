# skiff - the two commands a newcomer needs, and the gates CI runs (.ci/run -> make test).
#
#   make demo    install the build + run dependencies only (scripts/install-deps.sh --demo),
#                build the skiff binary, serve the bundled UCI housing model on :9393
#   make test    every gate, in order, each timed; fails on any failure:
#                  deps     scripts/install-deps.sh: build, run and test dependencies
#                           (seconds when all is installed)
#                  static   tools/check_sources.sh: banned calls, clang-format, cppcheck
#                  release  Release build in build/ + the whole CTest suite
#                  asan     clang ASan+UBSan build in build-asan/ + CTest (not label slow)
#                           + tools/alloc_fail_loop.sh (every allocation of `skiff run` failed in turn)
#                  fuzz     clang libFuzzer build in build-fuzz/: each target replays its
#                           corpus, then fuzzes for FUZZ_SECONDS
#                The last line printed is CTest's summary of the Release suite.
#                KEEP_GOING=1 runs every stage even after one fails (still exits 1).
#
# Other targets: deps, deps-demo, build, install (PREFIX=..., default /usr/local: the
# skiff binary, libskiff.so, include/skiff/, skiff.pc; docs/library.md), asan, fuzz
# (FUZZ_TARGETS=..., FUZZ_SECONDS=...), format, check, clean. Each test stage also runs
# alone: make test-static, test-release, test-asan, test-fuzz. docs/reliability.md explains the gates.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
MAKEFLAGS += --no-print-directory

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 30
# libFuzzer -seed: fixed, so CI repeats what a local run did; 0 = a new one each run.
FUZZ_SEED ?= 1
# Test labels the sanitizer stage leaves out: tests too slow under ASan.
ASAN_CTEST_EXCLUDE ?= slow
# Fuzz targets: every tests/fuzz/fuzz_<name>.c (override to pick some).
FUZZ_TARGETS ?= $(sort $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c))))
DEMO_PORT ?= 9393
PREFIX ?= /usr/local

export ASAN_OPTIONS ?= detect_leaks=1:halt_on_error=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0

TEST_STAGES := deps static release asan fuzz
RELEASE_LOG := build/ctest-release.log
# Clang, -O1 and full debug info: fast enough to run the suite, exact stack traces.
SAN_FLAGS := -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g -Wno-pass-failed"

.PHONY: all deps deps-demo configure build install demo test check format clean asan fuzz \
        $(addprefix test-,$(TEST_STAGES)) build-asan build-fuzz

all: build

deps:
	scripts/install-deps.sh

# What `make demo` needs: the compiler, cmake and the libraries the server links.
deps-demo:
	scripts/install-deps.sh --demo

configure:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	cmake --build build -j $(JOBS)

install: build
	cmake --install build --prefix $(PREFIX)

# The demo builds the skiff binary alone: the tests and examples are for `make test`.
demo: deps-demo configure
	cmake --build build -j $(JOBS) --target skiff
	./build/skiff serve --model examples/uci_housing/uci_housing_model --port $(DEMO_PORT) --name uci

# Runs each stage through a sub-make, printing "== stage: NAME (Ns)" after each; stops
# at the first failing stage unless KEEP_GOING=1 (then runs all, fails at the end).
# The Release suite's CTest summary is printed last.
KEEP_GOING ?= 0
test:
	@t_all=$$(date +%s); report=""; failed=""; \
	for s in $(TEST_STAGES); do \
	    echo "== stage: $$s"; t0=$$(date +%s); \
	    if $(MAKE) test-$$s; then \
	        line="== stage: $$s ($$(( $$(date +%s) - t0 ))s)"; \
	    else \
	        line="== stage: $$s FAILED ($$(( $$(date +%s) - t0 ))s)"; failed+=" $$s"; \
	    fi; \
	    echo "$$line"; report+="$$line"$$'\n'; \
	    if [[ -n $$failed && "$(KEEP_GOING)" != 1 ]]; then break; fi; \
	done; \
	echo; printf '%s' "$$report"; \
	if [[ -n $$failed ]]; then \
	    echo "make test: FAILED stages:$$failed ($$(( $$(date +%s) - t_all ))s)"; exit 1; \
	fi; \
	echo "make test: all stages passed in $$(( $$(date +%s) - t_all ))s"; \
	summary=$$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' $(RELEASE_LOG) | tail -n 1); \
	if [[ -z $$summary ]]; then echo "make test: no CTest summary in $(RELEASE_LOG)"; exit 1; fi; \
	echo "Release suite (build/), CTest:"; echo "$$summary"

check test-static:
	tools/check_sources.sh

test-deps: deps

test-release: build
	cd build && ctest --output-on-failure -j $(JOBS) 2>&1 | tee ctest-release.log

build-asan:
	cmake -S . -B build-asan $(SAN_FLAGS) -DSKIFF_SANITIZE=ON >/dev/null
	cmake --build build-asan -j $(JOBS)

asan test-asan: build-asan
	cd build-asan && ctest --output-on-failure -j $(JOBS) -LE '$(ASAN_CTEST_EXCLUDE)'
	tools/alloc_fail_loop.sh build-asan/skiff

build-fuzz:
	cmake -S . -B build-fuzz $(SAN_FLAGS) -DSKIFF_FUZZ=ON -DSKIFF_TESTS=OFF >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target fuzz_all

# Replays every committed seed, then fuzzes each target (tests/fuzz/run_fuzz.sh).
fuzz test-fuzz: build-fuzz
	tests/fuzz/run_fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_SEED) $(FUZZ_TARGETS)

format:
	tools/check_sources.sh fix-format

clean:
	rm -rf build build-asan build-fuzz fuzz-out
