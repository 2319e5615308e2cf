// Package test: builds the .vsix (npm run package), installs it into a fresh code-server profile
// with --install-extension, and runs test/vscode/*.spec.ts against the installed extension.
// A small driver extension carries the test path, because the workbench runs tests only for an
// extension under development; PruneLens itself loads from the installed .vsix.
//   node scripts/vscode-package-test.mjs [--skip-package]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildTests,
  cleanScratch,
  ensureCodeServer,
  installVsix,
  launchBrowser,
  log,
  makeScratch,
  repoRoot,
  runTestsInWorkbench,
  startServer,
  stopServer,
  testsOut,
} from './vscode-host.mjs';

const { values: args } = parseArgs({
  options: { 'skip-package': { type: 'boolean', default: false } },
});
const vsix = path.join(repoRoot, 'prunelens.vsix');

function packageExtension() {
  if (args['skip-package'] && fs.existsSync(vsix)) return;
  log('packaging the extension (npm run package)');
  const status = spawnSync('npm', ['run', '--silent', 'package'], {
    cwd: repoRoot,
    stdio: 'inherit',
  }).status;
  if (status !== 0 || !fs.existsSync(vsix))
    throw new Error(`npm run package failed (exit ${status})`);
}

/** Writes an extension without code whose only job is to carry extensionTestsPath. */
function writeDriver(scratch) {
  const driver = path.join(scratch, 'driver');
  fs.mkdirSync(driver);
  const manifest = {
    name: 'prunelens-package-test-driver',
    publisher: 'prunelens-tests',
    version: '0.0.0',
    engines: { vscode: '^1.90.0' },
  };
  fs.writeFileSync(path.join(driver, 'package.json'), JSON.stringify(manifest, null, 2));
  return driver;
}

async function run(scratch) {
  packageExtension();
  await buildTests();
  const host = await ensureCodeServer();
  log(`installing ${path.basename(vsix)} into a fresh profile`);
  await installVsix(host, scratch, vsix);
  const workspace = path.join(scratch, 'workspace');
  fs.mkdirSync(workspace);
  const server = await startServer(host, scratch);
  let browser;
  try {
    browser = await launchBrowser(scratch);
    const { code } = await runTestsInWorkbench(browser, server, {
      folder: workspace,
      extensionPath: writeDriver(scratch),
      testsModule: path.join(testsOut, 'package-index.js'),
      timeoutMs: 5 * 60_000,
    });
    log(`extension host finished with ${code}`);
    return code === 0 ? 0 : 1;
  } finally {
    await browser?.close().catch(() => {});
    await stopServer(server);
  }
}

const scratch = makeScratch('package-test');
let status = 1;
try {
  status = await run(scratch);
} catch (error) {
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  cleanScratch(scratch, status !== 0);
}
process.exit(status);
