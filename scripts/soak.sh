#!/usr/bin/env bash
# The long reliability runs of issue 6 (not part of CI): the test/reliability
# suite at soak sizes, one file at a time (the kernel tests share probes).
#   npm run soak                       everything, soak sizes
#   bash scripts/soak.sh crash fuzz    only files whose name contains a word
# Sizes (defaults are the soak sizes; CI uses the smaller defaults in the tests):
#   H2REC_CRASH_TRIALS=100       SIGKILLs of the recorder under h2load
#   H2REC_FUZZ_CASES=100000      fast-check frame streams through the analyzer
#   H2REC_FUZZ_SEED=<epoch>      fast-check seed (printed; rerun with it to replay)
#   H2REC_MUTATION_ROUNDS=50     mutation rounds per fixture journal
#   H2REC_STRUCT_MUTATIONS=2000  journals with cells of wrong SQL types and ranges
#   H2REC_STRUCT_SEED=<epoch>    their seed (printed in the test name; rerun with it to replay)
#   H2REC_HOSTILE_SCALE=1000000  frames in the at-scale flood cases
# Figures (one JSON object per item) are appended to $H2REC_FIGURES,
# build/soak-figures.jsonl by default, and printed at the end.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export H2REC_CRASH_TRIALS="${H2REC_CRASH_TRIALS:-100}"
export H2REC_FUZZ_CASES="${H2REC_FUZZ_CASES:-100000}"
export H2REC_FUZZ_SEED="${H2REC_FUZZ_SEED:-$(date +%s)}"
export H2REC_MUTATION_ROUNDS="${H2REC_MUTATION_ROUNDS:-50}"
export H2REC_STRUCT_MUTATIONS="${H2REC_STRUCT_MUTATIONS:-2000}"
export H2REC_STRUCT_SEED="${H2REC_STRUCT_SEED:-$(date +%s)}"
export H2REC_HOSTILE_SCALE="${H2REC_HOSTILE_SCALE:-1000000}"
export H2REC_FIGURES="${H2REC_FIGURES:-build/soak-figures.jsonl}"

bash scripts/setup.sh

files=()
for f in test/reliability/*.test.ts; do
  if [ $# -gt 0 ]; then
    keep=0
    for word in "$@"; do case "$f" in *"$word"*) keep=1 ;; esac; done
    [ $keep = 1 ] || continue
  fi
  out="build/${f%.ts}.js"
  if [ ! -f "$out" ]; then
    echo "soak: $f was not compiled to $out" >&2
    exit 1
  fi
  files+=("$out")
done
if [ ${#files[@]} -eq 0 ]; then
  echo "soak: no reliability test matched: $*" >&2
  exit 1
fi

mkdir -p "$(dirname "$H2REC_FIGURES")"
: > "$H2REC_FIGURES"
echo "soak: ${#files[@]} files; crash trials $H2REC_CRASH_TRIALS, fuzz cases $H2REC_FUZZ_CASES (seed $H2REC_FUZZ_SEED)," \
  "mutation rounds $H2REC_MUTATION_ROUNDS, flood scale $H2REC_HOSTILE_SCALE"
start=$(date +%s)
status=0
# 100 crash trials take ~15 minutes and 100k fuzz cases ~5: no per-test timeout short of that.
node --test --test-concurrency=1 --test-timeout=7200000 "${files[@]}" || status=$?
echo "soak: finished in $(( $(date +%s) - start )) s (exit $status); figures in $H2REC_FIGURES:"
cat "$H2REC_FIGURES"
exit $status
