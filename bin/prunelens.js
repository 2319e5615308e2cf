#!/usr/bin/env node
// Runs the CLI from the TypeScript sources in a checkout (through tsx), else the built bundle.
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..');
const source = path.join(root, 'src', 'cli', 'main.ts');
let cli;
if (fs.existsSync(source) && canResolve('tsx/cjs')) {
  require('tsx/cjs');
  cli = require(source);
} else {
  cli = require(path.join(root, 'dist', 'cli.js'));
}
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});

function canResolve(name) {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}
