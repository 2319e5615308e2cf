/**
 * Mocha entry that VS Code's extension host calls (`extensionTestsPath`): runs every
 * `*.test.js` beside this file, or those whose names start with an entry of
 * PRUNELENS_TEST_FILES (comma-separated).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type MochaType from 'mocha';

/** Runs the given test files; rejects when a test fails, which makes VS Code exit with code 1. */
export function runMocha(files: string[]): Promise<void> {
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
  for (const file of files) mocha.addFile(file);
  return new Promise((resolve, reject) => {
    mocha.run((failures) => {
      if (failures > 0) reject(new Error(`${failures} test(s) failed.`));
      else resolve();
    });
  });
}

/** Returns the files beside this module ending with `suffix`, filtered by PRUNELENS_TEST_FILES. */
export function testFiles(suffix: string): string[] {
  const only = process.env.PRUNELENS_TEST_FILES?.split(',').filter(Boolean);
  return fs
    .readdirSync(__dirname)
    .filter((name) => name.endsWith(suffix))
    .filter((name) => !only || only.some((wanted) => name.startsWith(wanted)))
    .sort()
    .map((name) => path.join(__dirname, name));
}

/** Runs the extension's integration suites. */
export function run(): Promise<void> {
  return runMocha(testFiles('.test.js'));
}
