#!/bin/sh
# Runs the benchmarks under benchmarks/ with Node >= 22 (use `npm run bench`, which puts one on PATH).
# The benchmarks have their own package.json, so the libraries they compare against never become
# dependencies of sluice; they are installed on first use.
# Usage: sh scripts/bench.sh [--quick] [name...]   e.g. `npm run bench -- gate` runs benchmarks/gate.bench.ts
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 22 ]; then
  echo "bench: Node >= 22 is required (found ${major}); run it as: sh scripts/use-node.sh sh scripts/bench.sh" >&2
  exit 1
fi

if [ ! -d benchmarks/node_modules ]; then
  echo "bench: installing the benchmarks' own dependencies" >&2
  npm --prefix benchmarks install --no-audit --no-fund
fi
mkdir -p benchmarks/results

flags=''
names=''
for arg in "$@"; do
  case "$arg" in
    --quick) flags='--quick' ;;
    *) names="$names $arg" ;;
  esac
done
if [ -z "$names" ]; then
  names=$(cd benchmarks && ls *.bench.ts | sed 's/\.bench\.ts$//')
fi

status=0
for name in $names; do
  file="benchmarks/$name.bench.ts"
  if [ ! -f "$file" ]; then
    echo "bench: no such benchmark: $file" >&2
    status=1
    continue
  fi
  echo "== $file"
  # --expose-gc: the memory benchmarks measure heap deltas, and every sample starts from a collected heap.
  node --expose-gc "$file" $flags || status=1
done
exit $status
