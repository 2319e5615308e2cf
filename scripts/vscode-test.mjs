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
    const status = spawnSync(process.execPath, ['esbuild.config.mjs'], { cwd: repoRoot, stdio: 'inherit' }).status;
    if (status !== 0) throw new Error(`the build failed (exit ${status})`);
  }
  await buildTests();
}

/** Environment the extension host sees (it inherits the server's or the desktop app's). */
function testEnv() {
  const env = {};
  if (args.grep) env.PRUNELENS_TEST_GREP = args.grep;
  if (args.files) env.PRUNELENS_TEST_FILES = args.files;
  return env;
}

async function runDesktop(workspace) {
  const { runTests } = await import('@vscode/test-electron');
  log('running in desktop VS Code through @vscode/test-electron');
  await runTests({
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: path.join(testsOut, 'index.js'),
    extensionTestsEnv: testEnv(),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
  });
  return 0;
}

async function runCodeServer(scratch, workspace) {
  const host = await ensureCodeServer();
  Object.assign(process.env, testEnv());
  const server = await startServer(host, scratch);
  log(`code-server listening on ${server.origin}`);
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

async function main() {
  await build();
  const scratch = makeScratch('extension-tests');
  const workspace = path.join(scratch, 'workspace');
  fs.mkdirSync(workspace);
  let status = 1;
  try {
    status = wantsDesktop() ? await runDesktop(workspace) : await runCodeServer(scratch, workspace);
  } catch (error) {
    log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    cleanScratch(scratch, status !== 0);
  }
  process.exit(status);
}

await main();
