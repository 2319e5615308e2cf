#!/usr/bin/env node
// Runs the bundled CLI when it is built, and the TypeScript sources through tsx otherwise.
const fs = require('node:fs');
const path = require('node:path');
const bundled = path.join(__dirname, '..', 'dist', 'cli.js');
if (fs.existsSync(bundled)) {
  require(bundled);
} else {
  require('tsx/cjs');
  require(path.join(__dirname, '..', 'src', 'cli', 'main.ts'));
}
