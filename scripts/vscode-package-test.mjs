// Package test: builds the .vsix (npm run package), installs it into a fresh code-server profile
// with --install-extension, and runs test/vscode/*.spec.ts against the installed extension.
// A small driver extension carries the test path, because the workbench runs tests only for an
// extension under development; PruneLens itself loads from the installed .vsix. A second phase
// drives the workbench as a user would: Prune Model… from the explorer's context menu, Cancel on
// the progress notification, then a complete run. Screenshots go to test-artifacts/package/.
//   node scripts/vscode-package-test.mjs [--skip-package]
import * as assert from 'node:assert/strict';
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

const corpus = path.resolve(repoRoot, '..', 'shared', 'corpus');
const screenshots = path.join(repoRoot, 'test-artifacts', 'package');

/** Copies a corpus model into `folder` with a complete recipe beside it. */
function placeModel(folder, relative, recipe) {
  const target = path.join(folder, path.basename(relative));
  fs.copyFileSync(path.join(corpus, relative), target);
  fs.chmodSync(target, 0o644);
  fs.writeFileSync(`${target}.prunelens.json`, JSON.stringify({ version: 1, ...recipe }));
}

/** Runs Prune Model… on a file from the explorer's context menu and accepts the saved recipe. */
async function pruneFromExplorer(page, name) {
  const row = page.locator('.explorer-folders-view').getByRole('treeitem', { name, exact: true });
  await row.waitFor({ timeout: 60_000 });
  const item = page.locator('.context-view .action-label', { hasText: 'Prune Model' });
  // Once, on a loaded machine, the menu stayed without this item for 30 s, so the menu is closed
  // and opened again, up to three times.
  for (let attempt = 1; ; attempt++) {
    await row.click({ button: 'right' });
    const shown = await item.waitFor({ timeout: 10_000 }).then(() => true, () => false);
    if (shown) break;
    if (attempt === 3) throw new Error('the explorer context menu has no Prune Model… item');
    await page.keyboard.press('Escape');
  }
  await item.hover();
  await page.keyboard.press('Enter');
  await page
    .locator('.quick-input-list .monaco-list-row', { hasText: 'Use saved recipe' })
    .waitFor();
  await page.keyboard.press('Enter');
}

/** Creates the workspace of the user scenario: two models, each with a complete recipe. */
function prepareUserWorkspace(scratch) {
  const workspace = path.join(scratch, 'ui-workspace');
  fs.mkdirSync(workspace);
  const mnist = path.join(corpus, 'data', 'mnist-test');
  placeModel(workspace, 'keras-h5-mnist-mlp-bn-dropout/mnist_mlp.h5', {
    method: 'ecp',
    sparsity: 0.9,
    steps: 10,
    data: {
      data: path.join(mnist, 't10k-images-idx3-ubyte.gz'),
      labels: path.join(mnist, 't10k-labels-idx1-ubyte.gz'),
      scale: 1 / 255,
      rows: [0, 2000],
    },
  });
  placeModel(workspace, 'keras-h5-iris-mlp/iris_model.h5', {
    method: 'ecp',
    sparsity: 0.9,
    steps: 10,
    data: {
      data: path.join(corpus, 'data', 'sklearn-iris', 'iris.csv'),
      skipLines: 1,
      labelColumn: 4,
      // Per-feature mean and standard deviation of iris.csv: the model was trained standardized.
      mean: [5.8433, 3.0573, 3.758, 1.1993],
      std: [0.8253, 0.4344, 1.7594, 0.7597],
    },
  });
  return workspace;
}

/** Starts a prune of the MNIST model and presses Cancel on its progress notification. */
async function cancelFromNotification(page, workspace) {
  await pruneFromExplorer(page, 'mnist_mlp.h5');
  const progress = page.locator('.notification-toast', { hasText: 'Pruning mnist_mlp.h5 to 90%' });
  await progress.waitFor({ timeout: 60_000 });
  await page.locator('.notification-toast', { hasText: /\d+% / }).waitFor({ timeout: 60_000 });
  await page.screenshot({ path: path.join(screenshots, 'progress.png') });
  await progress.locator('.monaco-button', { hasText: 'Cancel' }).click();
  await progress.waitFor({ state: 'detached', timeout: 5_000 });
  const leftovers = fs
    .readdirSync(workspace)
    .filter((name) => name.startsWith('mnist_mlp.pruned') || name.endsWith('.tmp'));
  assert.deepEqual(leftovers, [], 'Cancel left files behind');
  log('Cancel on the progress notification left no file');
}

/** Prunes the iris model and opens the report from the result notification. */
async function pruneAndOpenReport(page, workspace) {
  await pruneFromExplorer(page, 'iris_model.h5');
  const result = page.locator('.notification-toast', { hasText: 'Pruned to 90%' });
  await result.waitFor({ timeout: 120_000 });
  await page.screenshot({ path: path.join(screenshots, 'result.png') });
  assert.ok(fs.existsSync(path.join(workspace, 'iris_model.pruned-90.h5')), 'no pruned file');
  await result.locator('.monaco-button', { hasText: 'Open Report' }).click();
  const tab = page.locator('.tab', { hasText: 'iris_model.pruned-90.report.md' });
  await tab.waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(screenshots, 'report.png') });
  log('the result notification opened the report');
}

/** Drives the workbench without the test driver, so notifications show as a user sees them. */
async function userScenario(host, scratch) {
  const workspace = prepareUserWorkspace(scratch);
  fs.mkdirSync(screenshots, { recursive: true });
  const server = await startServer(host, scratch, { smokeDriver: false });
  const browser = await launchBrowser(scratch);
  const page = browser.pages()[0] ?? (await browser.newPage());
  try {
    await page.goto(`${server.origin}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    await cancelFromNotification(page, workspace);
    await pruneAndOpenReport(page, workspace);
  } catch (error) {
    await page.screenshot({ path: path.join(screenshots, 'failure.png') }).catch(() => {});
    throw error;
  } finally {
    await browser.close().catch(() => {});
    await stopServer(server);
  }
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
    if (code !== 0) return 1;
  } finally {
    await browser?.close().catch(() => {});
    await stopServer(server);
  }
  await userScenario(host, scratch);
  return 0;
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
