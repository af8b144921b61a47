# The two commands a user needs: `make run` and `make test`. Everything else is for developers.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
LCORES ?= 1

.PHONY: all deps build build-asan build-fuzz run test test-quick bench soak fuzz format clean

all: build

deps:
	@control/scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang CXX=clang++ meson setup $(FUZZ_BUILD) -Dfuzz=true -Dbench=false -Db_lundef=false

build-fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

# Foreground demo broker at 198.18.0.1:1883 in namespace tachyon-demo; Ctrl-C cleans up.
run: build
	@control/scripts/run-demo.sh $(BUILD) $(LCORES)

# Every suite: the normal build runs everything, the sanitizer build reruns the unit, TCP-script
# and corpus-replay suites, the fuzz build runs each libFuzzer target briefly.
test: build build-asan build-fuzz
	@control/scripts/hugepages.sh 512
	@tests/run-all.sh $(BUILD) $(ASAN_BUILD):unit,tcp,fuzz-replay $(FUZZ_BUILD):fuzz

test-quick: build
	@tests/run-all.sh $(BUILD):unit,tcp,fuzz-replay

bench: build
	@bench/run-micro.sh $(BUILD)

soak: build
	@SOAK=1 tests/run-all.sh $(BUILD):soak

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
