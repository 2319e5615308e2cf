// Runs the mocha suites of test/vscode inside a real VS Code extension host: desktop VS Code
// through @vscode/test-electron when PRUNELENS_VSCODE_HOST=desktop (or when test-electron has
// already cached a build in .vscode-test/), else code-server driven by headless Chromium.
//   node scripts/vscode-test.mjs [--suite extension|package] [--grep PATTERN] [--files a,b]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildTests,
  cleanScratch,
  ensureCodeServer,
  launchBrowser,
  log,
  makeScratch,
  repoRoot,
  runTestsInWorkbench,
  startServer,
  testsOut,
  stopServer,
  wantsDesktop,
} from './vscode-host.mjs';

const { values: args } = parseArgs({
  options: {
    grep: { type: 'string' },
    files: { type: 'string' },
    'skip-build': { type: 'boolean', default: false },
    'timeout-minutes': { type: 'string', default: '8' },
  },
});
const timeoutMs = Number(args['timeout-minutes']) * 60_000;

/** Builds the extension bundles (unless --skip-build) and the test suites. */
async function build() {
  if (!args['skip-build']) {
    log('building the extension');
    const status = spawnSync(process.execPath, ['esbuild.config.mjs'], {
      cwd: repoRoot,
      stdio: 'inherit',
    }).status;
    if (status !== 0) throw new Error(`the build failed (exit ${status})`);
  }
  await buildTests();
}

/** Sets the variables the test entry reads (the extension host inherits them from the server). */
function setTestEnv(files) {
  if (args.grep) process.env.PRUNELENS_TEST_GREP = args.grep;
  if (files) process.env.PRUNELENS_TEST_FILES = files;
  else delete process.env.PRUNELENS_TEST_FILES;
}

async function runDesktop(_scratch, workspace) {
  const { runTests } = await import('@vscode/test-electron');
  log('running in desktop VS Code through @vscode/test-electron');
  await runTests({
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: path.join(testsOut, 'index.js'),
    // Only defined values: a child process would receive `undefined` as the string "undefined".
    extensionTestsEnv: Object.fromEntries(
      Object.entries({ PRUNELENS_TEST_GREP: args.grep, PRUNELENS_TEST_FILES: args.files }).filter(
        ([, value]) => value !== undefined,
      ),
    ),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
  });
  return 0;
}

/** Runs the suites in code-server; with `trust`, in a workspace that is not trusted. */
async function runCodeServer(scratch, workspace, { trust = false, files = args.files } = {}) {
  const host = await ensureCodeServer();
  setTestEnv(files);
  const server = await startServer(host, scratch, { trust });
  log(`code-server listening on ${server.origin}${trust ? ' (workspace trust on)' : ''}`);
  let browser;
  try {
    browser = await launchBrowser(scratch);
    const { code } = await runTestsInWorkbench(browser, server, {
      folder: workspace,
      extensionPath: repoRoot,
      testsModule: path.join(testsOut, 'index.js'),
      timeoutMs,
    });
    log(`extension host finished with ${code}`);
    return code === 0 ? 0 : 1;
  } finally {
    await browser?.close().catch(() => {});
    await stopServer(server);
  }
}

/** Runs one session in a fresh scratch folder and returns its exit status. */
async function session(label, run, options) {
  const scratch = makeScratch(label, options);
  const workspace = path.join(scratch, 'workspace');
  fs.mkdirSync(workspace);
  let status = 1;
  try {
    status = await run(scratch, workspace, options);
  } catch (error) {
    log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    cleanScratch(scratch, status !== 0);
  }
  return status;
}

async function main() {
  try {
    await build();
  } catch (error) {
    log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  if (wantsDesktop()) process.exit(await session('desktop-tests', runDesktop));
  let status = await session('extension-tests', runCodeServer);
  const runUntrusted =
    !args.files || args.files.split(',').some((name) => 'untrusted'.startsWith(name));
  if (status === 0 && runUntrusted) {
    // Second session: the same entry, in a workspace that is not trusted; only untrusted.test runs.
    status = await session('untrusted-tests', runCodeServer, { trust: true, files: 'untrusted' });
  }
  process.exit(status);
}

await main();
