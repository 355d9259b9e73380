#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The C files' format, as the repository's .clang-format says (CONTRIBUTING.md rule 20).
#   scripts/format.sh [FILE...]           reformat in place
#   scripts/format.sh --check [FILE...]   change nothing; list the files that differ, exit 1
# Without FILE: every tracked .c/.h file under src/, tests/unit/, tests/fuzz/ and bench/.
# CLANG_FORMAT picks the binary (default: clang-format, else clang-format-14).
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
if [ "${1:-}" = "--check" ]; then
	check=1
	shift
fi
case "${1:-}" in
-h | --help)
	sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
-*)
	echo "format: unknown option $1 (--check, --help)" >&2
	exit 2
	;;
esac

cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
	for c in clang-format clang-format-14; do
		if command -v "$c" > /dev/null; then
			cf=$c
			break
		fi
	done
fi
if [ -z "$cf" ] || ! command -v "$cf" > /dev/null; then
	echo "format: clang-format not found (scripts/deps.sh installs it)" >&2
	exit 2
fi
style="--style=file:$PWD/.clang-format"

# A key this clang-format does not know is an error here, not a silent default.
if ! "$cf" "$style" --dump-config src/core/error.c > /dev/null; then
	echo "format: $("$cf" --version) does not accept .clang-format" >&2
	exit 2
fi

if [ $# -gt 0 ]; then
	files=("$@")
elif git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
	mapfile -t files < <(git ls-files -- 'src/*.[ch]' 'tests/unit/*.[ch]' \
		'tests/fuzz/*.[ch]' 'bench/*.[ch]')
else
	mapfile -t files < <(find src tests/unit tests/fuzz bench -name '*.[ch]' | sort)
fi

if [ $check -eq 0 ]; then
	"$cf" "$style" -i -- "${files[@]}"
	exit 0
fi

differ=0
for f in "${files[@]}"; do
	if ! out=$("$cf" "$style" --dry-run -Werror -- "$f" 2>&1); then
		places=$(grep -c 'clang-format-violations' <<< "$out" || true)
		if [ "$places" -eq 0 ]; then
			echo "$out" >&2 # not a format difference: say what it was
			exit 2
		fi
		first=$(grep -m1 -o "^$f:[0-9]*" <<< "$out" || true)
		echo "$f: $places place(s) to reformat, the first at line ${first##*:}"
		differ=$((differ + 1))
	fi
done
if [ $differ -gt 0 ]; then
	echo "format: $differ of ${#files[@]} files differ from .clang-format" \
		"(scripts/format.sh reformats them)" >&2
	exit 1
fi
echo "format: ${#files[@]} files as .clang-format says"
