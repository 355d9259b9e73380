#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Configure (once) and build one build directory.
#   scripts/build.sh [BUILD_DIR] [meson setup options...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" "$@" > /dev/null
fi
if ! ninja -C "$dir" > "$dir/.ninja-output" 2>&1; then
	cat "$dir/.ninja-output" >&2
	echo "build: compiling in $dir failed" >&2
	exit 1
fi
