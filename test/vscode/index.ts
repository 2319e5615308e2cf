/**
 * Mocha entry that VS Code's extension host calls (`extensionTestsPath`): runs every
 * `*.test.js` beside this file, or the files named in PRUNELENS_TEST_FILES (comma-separated).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type MochaType from 'mocha';

/** Runs the suites; rejects when a test fails, which makes VS Code exit with code 1. */
export function run(): Promise<void> {
  // mocha's package entry is an ES module; its CommonJS build loads in every extension host.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Mocha = require('mocha/lib/mocha.cjs') as typeof MochaType;
  const mocha = new Mocha({
    ui: 'bdd',
    color: false,
    reporter: 'spec',
    timeout: 120_000,
    grep: process.env.PRUNELENS_TEST_GREP || undefined,
  });
  const only = process.env.PRUNELENS_TEST_FILES?.split(',').filter(Boolean);
  const files = fs
    .readdirSync(__dirname)
    .filter((name) => name.endsWith('.test.js'))
    .filter((name) => !only || only.some((wanted) => name.startsWith(wanted)))
    .sort();
  for (const file of files) mocha.addFile(path.join(__dirname, file));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => {
      if (failures > 0) reject(new Error(`${failures} test(s) failed.`));
      else resolve();
    });
  });
}
