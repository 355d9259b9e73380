# SPDX-License-Identifier: MIT
# Thin wrapper over scripts/ and meson; the scripts are what the README documents.
.PHONY: all build run check fuzz bench clean

all: build

build:
	bash scripts/build.sh build

run:
	bash scripts/run.sh

check:
	bash scripts/check.sh

fuzz:
	bash scripts/fuzz.sh

bench:
	bash bench/run.sh

clean:
	rm -rf build build-asan build-fuzz
