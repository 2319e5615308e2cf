#!/usr/bin/env node
// Runs the bundled CLI when it is built, and the TypeScript sources through tsx otherwise.
const fs = require('node:fs');
const path = require('node:path');
const bundled = path.join(__dirname, '..', 'dist', 'cli.js');
let cli;
if (fs.existsSync(bundled)) {
  cli = require(bundled);
} else {
  require('tsx/cjs');
  cli = require(path.join(__dirname, '..', 'src', 'cli', 'main.ts'));
}
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
