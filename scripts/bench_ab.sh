#!/usr/bin/env bash
# Interleaved A/B runs for the tuning log (docs/benchmarks.md): before, after, before, after,
# so that a neighbour's load on a shared machine falls on both variants alike.
#
#   scripts/bench_ab.sh <before-tree> <after-tree> <out-dir> [extra `python -m bench` options]
#
# A tree is a checkout of the repository (e.g. `git archive <commit> | tar -x -C <dir>`); both
# run with this repository's virtualenv. Default workload: orchestration, 200 sagas at c=50.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
python="$here/.venv/bin/python"
before="$(cd "$1" && pwd)" after="$(cd "$2" && pwd)" out="$(mkdir -p "$3" && cd "$3" && pwd)"
shift 3
rounds="${AB_ROUNDS:-2}"
for round in $(seq "$rounds"); do
  for variant in before after; do
    tree="$before"; [ "$variant" = after ] && tree="$after"
    echo "round $round: $variant ($tree)"
    (cd "$tree" && "$python" -m bench --modes orchestration --sagas 200 --concurrency 50 \
      --sweep '' --warmup 20 --out "$out/$variant" "$@" | tail -1)
  done
done
cd "$here" && "$python" -m bench.compare "$out/before" "$out/after"
