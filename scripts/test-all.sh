#!/usr/bin/env bash
# Everything CI runs: type check, lint, unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run typecheck
npm run lint
npm run test:unit
npm run test:hostile
npm run test:vscode
npm run test:package
npm run test:e2e
