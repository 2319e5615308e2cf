/** Mocha entry of the package test: runs `*.spec.js`, written against the installed .vsix. */
import { runMocha, testFiles } from './index';

/** Runs the package suites. */
export function run(): Promise<void> {
  return runMocha(testFiles('.spec.js'));
}
