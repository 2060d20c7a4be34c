#!/bin/sh
# Every test: type check, lint, build (the published files), then the test suite (node:test on the sources).
set -eu
echo "== typecheck"; npx tsc -p tsconfig.json --noEmit
echo "== lint"; npx biome check .
echo "== build"; rm -rf dist && npx tsc -p tsconfig.build.json
echo "== tests"; exec node --test --test-reporter=spec --test-reporter-destination=stdout "test/**/*.test.ts"
