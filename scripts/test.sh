#!/bin/sh
# Every test: type check, lint, then the test suite (node:test on the TypeScript sources).
set -eu
echo "== typecheck"; npx tsc -p tsconfig.json --noEmit
echo "== lint"; npx biome check .
echo "== tests"; exec node --test --test-reporter=spec --test-reporter-destination=stdout "test/**/*.test.ts"
