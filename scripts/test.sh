#!/usr/bin/env bash
# The whole test suite: set up (skipping what is done), then node's test
# runner over every compiled test/**/*.test.ts, one file at a time because the
# end-to-end tests share the kernel's probes. Exits non-zero on any failure.
#   bash scripts/test.sh                 everything
#   bash scripts/test.sh doctor cli      only test files whose path contains a word
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

# Map sources to their build output, so a test deleted from test/ but still in build/ never runs.
files=()
while IFS= read -r src; do
  out="build/${src%.ts}.js"
  if [ $# -gt 0 ]; then
    keep=0
    for word in "$@"; do case "$src" in *"$word"*) keep=1 ;; esac; done
    [ $keep = 1 ] || continue
  fi
  if [ ! -f "$out" ]; then
    echo "test: $src was not compiled to $out" >&2
    exit 1
  fi
  files+=("$out")
done < <(find test -name '*.test.ts' | sort)

if [ ${#files[@]} -eq 0 ]; then
  echo "test: no test files matched: $*" >&2
  exit 1
fi

echo "test: ${#files[@]} files"
# A hung peer or probe must fail its test, not the 90-minute CI budget.
exec node --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
