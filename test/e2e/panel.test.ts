/**
 * End-to-end test of the model panel in a real VS Code (code-server) driven by headless Debian
 * Chromium: open the MNIST model, choose the calibration data through the extension's dialogs,
 * move the global slider, run the sensitivity and comparison views, and save.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { BrowserContext, FrameLocator, Page } from 'playwright-core';

const repoRoot = path.resolve(__dirname, '..', '..');
const corpus = path.resolve(repoRoot, '..', 'shared', 'corpus');
const modelSource = path.join(corpus, 'keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5');
const images = path.join(corpus, 'data', 'mnist-test', 't10k-images-idx3-ubyte.gz');
const screenshots = path.join(repoRoot, 'test-artifacts', 'screenshots');

interface Host {
  ensureCodeServer(): Promise<unknown>;
  makeScratch(label: string): string;
  startServer(host: unknown, scratch: string, options?: object): Promise<{ port: number; origin: string }>;
  stopServer(server: unknown): Promise<void>;
  launchBrowser(scratch: string): Promise<BrowserContext>;
  cleanScratch(scratch: string, failed: boolean): void;
}

/** Writes the profile's settings before the workbench starts: dark theme, 2,000 calibration rows. */
function writeSettings(scratch: string): void {
  const file = path.join(scratch, 'user-data', 'User', 'settings.json');
  const settings = JSON.parse(fs.readFileSync(file, 'utf8'));
  settings['workbench.colorTheme'] = 'Default Dark Modern';
  settings['prunelens.calibrationSampleLimit'] = 2000;
  fs.writeFileSync(file, JSON.stringify(settings, null, 2));
}

/** Switches the colour theme through the command palette. */
async function chooseTheme(page: Page, theme: string): Promise<void> {
  await page.keyboard.press('F1');
  await page.locator('.quick-input-widget input').first().fill('>Preferences: Color Theme');
  await pickQuickItem(page, 'Preferences: Color Theme');
  await page.locator('.quick-input-widget input').first().fill(theme);
  await pickQuickItem(page, theme);
}

/** Returns true when a canvas has pixels of more than one colour. */
async function canvasHasContent(frame: FrameLocator, selector: string): Promise<boolean> {
  return frame.locator(selector).first().evaluate((element) => {
    const canvas = element as HTMLCanvasElement;
    const context = canvas.getContext('2d');
    if (!context || canvas.width === 0 || canvas.height === 0) return false;
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 4; i < data.length; i += 4) {
      if (data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2]) return true;
    }
    return false;
  });
}

async function setField(frame: FrameLocator, id: string, value: string): Promise<void> {
  await frame.locator(`#${id} input`).fill(value);
}

/**
 * Types a path into VS Code's simple file dialog. The dialog checks paths asynchronously, so the
 * folder is entered first and its listing awaited (a row named `known`, or one second when the
 * dialog's filter hides the folder's files), then the full path.
 */
async function fileDialog(page: Page, file: string, known: string | null): Promise<void> {
  const input = page.locator('.quick-input-widget input').first();
  await input.waitFor({ state: 'visible', timeout: 30_000 });
  // The dialog fills in its start folder a moment after it opens; typing earlier gets prefixed.
  for (let i = 0; i < 100 && (await input.inputValue()) === ''; i++) await page.waitForTimeout(100);
  await page.waitForTimeout(300);
  await input.fill(path.dirname(file) + path.sep);
  if (known) await page.locator('.quick-input-list .monaco-list-row', { hasText: known }).first().waitFor({ timeout: 30_000 });
  else await page.waitForTimeout(1000);
  await input.fill(file);
  assert.equal(await input.inputValue(), file);
  if (fs.existsSync(file)) {
    await page.locator('.quick-input-list .monaco-list-row', { hasText: path.basename(file) }).first().waitFor({ timeout: 30_000 });
  }
  await page.waitForTimeout(500);
  await page.keyboard.press('Enter');
}

async function pickQuickItem(page: Page, label: string, title?: string): Promise<void> {
  if (title) await page.locator('.quick-input-widget .quick-input-title', { hasText: title }).waitFor({ timeout: 30_000 });
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
  await row.waitFor({ timeout: 30_000 });
  await row.click();
}

describe('model panel in code-server', { timeout: 900_000 }, () => {
  let host: Host;
  let scratch = '';
  let server: { port: number; origin: string } | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let panel: FrameLocator;
  let failed = false;
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-e2e-'));
  const model = path.join(workspace, 'mnist_mlp.h5');
  const output = path.join(workspace, 'mnist_mlp.pruned-90.h5');

  before(async () => {
    host = (await import(path.join(repoRoot, 'scripts', 'vscode-host.mjs'))) as Host;
    fs.symlinkSync(modelSource, model);
    fs.mkdirSync(screenshots, { recursive: true });
    const codeServer = await host.ensureCodeServer();
    scratch = host.makeScratch('panel-e2e');
    writeSettings(scratch);
    server = await host.startServer(codeServer, scratch);
    context = await host.launchBrowser(scratch);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error' || message.text().includes('PruneLens')) console.log(`      [console.${message.type()}] ${message.text().slice(0, 300)}`);
    });
    page.on('pageerror', (error) => console.log(`      [pageerror] ${String(error).slice(0, 300)}`));
    const payload = [['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${server.port}${repoRoot}`]];
    await page.goto(`${server.origin}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'mnist_mlp.h5' }).waitFor({ timeout: 90_000 });
    panel = page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
  });

  afterEach(async (test) => {
    if (!test || !page) return;
    const name = test.name.replace(/\W+/g, '-');
    await page.screenshot({ path: path.join(screenshots, `last-${name}.png`) }).catch(() => undefined);
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    if (server) await host.stopServer(server);
    if (scratch) host.cleanScratch(scratch, failed);
    fs.rmSync(workspace, { recursive: true, force: true });
  });

  it('opens the model summary', async () => {
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget input').first().fill('mnist_mlp.h5');
    await pickQuickItem(page, 'mnist_mlp.h5');
    await panel.locator('#model-format').waitFor({ timeout: 120_000 });
    assert.equal(await panel.locator('#model-format').textContent(), 'Keras HDF5');
    assert.match((await panel.locator('#layer-table').textContent()) ?? '', /256 × 784/);
  });

  it('chooses the MNIST calibration data', async () => {
    await panel.locator('#pick-data').click();
    await fileDialog(page, images, 't10k-labels-idx1-ubyte.gz');
    await pickQuickItem(page, 't10k-labels-idx1-ubyte.gz', 'Labels');
    await pickQuickItem(page, 'Scale by 1/255', 'Preprocessing');
    await panel.locator('#picked-data', { hasText: 't10k-images' }).waitFor({ timeout: 60_000 });
    assert.equal(await panel.locator('#picked-labels').textContent(), 't10k-labels-idx1-ubyte.gz');
    await setField(panel, 'data-rows', '0:2000');
    await setField(panel, 'data-eval-rows', '5000:10000');
    assert.equal(await panel.locator('#data-scale input').inputValue(), String(1 / 255));
    await panel.locator('#load-run').click();
    await panel.locator('#data-description').waitFor({ timeout: 180_000 });
    assert.match((await panel.locator('#data-description').textContent()) ?? '', /^2,000 samples/);
    assert.equal(await panel.locator('#data-task').textContent(), 'classification');
  });

  it('draws heatmaps and metrics follow the slider', async () => {
    failed = true;
    await panel.locator('#tab-heatmaps').click();
    await panel.locator('#sliders', { hasText: 'Scores: ecp' }).waitFor({ timeout: 60_000 });
    await panel.locator('#metrics', { hasText: 'accuracy' }).waitFor({ timeout: 60_000 });
    const before = (await panel.locator('#metrics').textContent()) ?? '';
    assert.ok(await canvasHasContent(panel, 'canvas.heatmap'), 'the first heatmap is blank');
    assert.ok(await canvasHasContent(panel, '#input-image'), 'the input-importance image is blank');
    await panel.locator('#global-sparsity').fill('90');
    await panel.locator('#metrics[data-sparsity]', { hasText: 'at 90.0%' }).waitFor({ timeout: 60_000 });
    const after = (await panel.locator('#metrics').textContent()) ?? '';
    assert.notEqual(after, before);
    assert.match(after, /accuracy \d+(\.\d)?%/);
    assert.match((await panel.locator('#prediction').textContent()) ?? '', /Sparsity 90\.0%/);
    const heatmap = panel.locator('canvas.heatmap').first();
    await heatmap.hover({ position: { x: 40, y: 20 } });
    await panel.locator('.readout', { hasText: /unit \d+, input \d+: weight .*importance .*compensation/ }).first().waitFor();
    await heatmap.click({ position: { x: 40, y: 20 } });
    await panel.locator('.caption', { hasText: 'one weight per cell' }).first().waitFor();
    assert.ok(await canvasHasContent(panel, 'canvas.heatmap'), 'the zoomed heatmap is blank');
    await heatmap.press('Escape');
    await panel.locator('.caption', { hasText: 'each cell 1 × 4 weights' }).first().waitFor();
    await saveHeatmapShots('dark');
    await panel.locator('#map-kind vscode-radio[value="mask"]').click();
    assert.ok(await canvasHasContent(panel, 'canvas.heatmap'), 'the mask heatmap is blank');
    await panel.locator('section.layer').first().scrollIntoViewIfNeeded();
    await page.locator('iframe.webview.ready').screenshot({ path: path.join(screenshots, 'panel-mask-dark.png') });
    await panel.locator('#map-kind vscode-radio[value="importance"]').click();
    console.log(`      timings: ${await panel.locator('#timings').textContent()}`);
    failed = false;
  });

  it('runs and cancels sensitivity', async () => {
    failed = true;
    await panel.locator('#tab-sensitivity').click();
    const many = Array.from({ length: 19 }, (_, i) => ((i + 1) * 0.05).toFixed(2)).join(', ');
    await setField(panel, 'sensitivity-sparsities', many);
    await panel.locator('#sensitivity-run').click();
    await panel.locator('#sensitivity-status', { hasText: /\d\.\d% / }).waitFor({ timeout: 60_000 });
    await panel.locator('#sensitivity-cancel').click();
    await panel.locator('#sensitivity-status', { hasText: 'Cancelled.' }).waitFor({ timeout: 30_000 });
    await setField(panel, 'sensitivity-sparsities', '0.5, 0.9');
    await panel.locator('#sensitivity-run').click();
    await panel.locator('#sensitivity-table tbody tr').first().waitFor({ timeout: 300_000 });
    assert.equal(await panel.locator('#sensitivity-table tbody tr').count(), 2);
    assert.ok(await canvasHasContent(panel, '#sensitivity-chart canvas'), 'the sensitivity chart is blank');
    await page.locator('iframe.webview.ready').screenshot({ path: path.join(screenshots, 'panel-sensitivity-dark.png') });
    await panel.locator('#sensitivity-apply').click();
    await panel.locator('#sensitivity-status', { hasText: 'Per-layer sparsities set' }).waitFor();
    await panel.locator('#sensitivity-table tbody tr').first().locator('button.cell-pick').first().press('Enter');
    await panel.locator('#sensitivity-status', { hasText: 'Sparsity of dense set to 50.0%' }).waitFor();
    failed = false;
  });

  it('runs the comparison view', async () => {
    failed = true;
    await panel.locator('#tab-comparison').click();
    await setField(panel, 'comparison-sparsities', '0.7, 0.9');
    await setField(panel, 'comparison-steps', '3');
    await panel.locator('#comparison-run').click();
    await panel.locator('#comparison-table tbody tr').first().waitFor({ timeout: 600_000 });
    const header = (await panel.locator('#comparison-table thead').textContent()) ?? '';
    assert.match(header, /ecp/);
    assert.match(header, /magnitude/);
    assert.match(header, /auto/);
    const picks = (await panel.locator('#comparison-auto').textContent()) ?? '';
    assert.match(picks, /^Auto picks \S+ at 70\.0%, \S+ at 90\.0%\.$/);
    assert.ok(await canvasHasContent(panel, '#comparison-chart canvas'), 'the comparison chart is blank');
    await page.locator('iframe.webview.ready').screenshot({ path: path.join(screenshots, 'panel-comparison-dark.png') });
    await panel.locator('#comparison-export-csv').click();
    await fileDialog(page, path.join(workspace, 'comparison.csv'), null);
    await panel.locator('#comparison-status', { hasText: 'Saved comparison.csv' }).waitFor({ timeout: 30_000 });
    assert.match(fs.readFileSync(path.join(workspace, 'comparison.csv'), 'utf8'), /^series,global sparsity,/);
    await panel.locator('#comparison-export-png').click();
    await fileDialog(page, path.join(workspace, 'comparison.png'), null);
    await panel.locator('#comparison-status', { hasText: 'Saved comparison.png' }).waitFor({ timeout: 30_000 });
    const png = fs.readFileSync(path.join(workspace, 'comparison.png'));
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    assert.ok(png.length > 5000, `the PNG has only ${png.length} bytes`);
    failed = false;
  });

  it('saves the pruned model', async () => {
    failed = true;
    await panel.locator('#tab-heatmaps').click();
    await panel.locator('#sparsity-mode vscode-radio[value="global"]').click();
    await panel.locator('#global-sparsity').fill('90');
    await setField(panel, 'save-steps', '2');
    await panel.locator('#save-run').click();
    await fileDialog(page, output, 'mnist_mlp.h5');
    await panel.locator('#save-status', { hasText: 'Saved' }).waitFor({ timeout: 300_000 });
    assert.ok(fs.statSync(output).size > 0, 'the pruned model was not written');
    failed = false;
  });

  it('follows light and high-contrast themes', async () => {
    const themes = [
      { name: 'Light Modern', workbench: '.monaco-workbench.vs', file: 'light' },
      { name: 'Dark High Contrast', workbench: '.monaco-workbench.hc-black', file: 'high-contrast' },
    ];
    for (const theme of themes) {
      await chooseTheme(page, theme.name);
      await page.locator(theme.workbench).waitFor({ timeout: 30_000 });
      await page.waitForTimeout(1000);
      assert.ok(await canvasHasContent(panel, 'canvas.heatmap'), `the heatmap is blank in ${theme.name}`);
      await saveHeatmapShots(theme.file);
      await saveViewShot('sensitivity', theme.file);
      await saveViewShot('comparison', theme.file);
      await panel.locator('#tab-heatmaps').click();
    }
    await page.screenshot({ path: path.join(screenshots, 'workbench-light-high-contrast.png') });
  });

  /** Opens the sensitivity or comparison tab and saves it as a screenshot. */
  async function saveViewShot(view: 'sensitivity' | 'comparison', theme: string): Promise<void> {
    await panel.locator(`#tab-${view}`).click();
    assert.ok(await canvasHasContent(panel, `#${view}-chart canvas`), `the ${view} chart is blank in ${theme}`);
    await page.locator('iframe.webview.ready').screenshot({ path: path.join(screenshots, `panel-${view}-${theme}.png`) });
  }

  /** Saves the sliders and the first heatmaps of the panel as two screenshots. */
  async function saveHeatmapShots(theme: string): Promise<void> {
    const frame = page.locator('iframe.webview.ready');
    await panel.locator('#sliders').scrollIntoViewIfNeeded();
    await frame.screenshot({ path: path.join(screenshots, `panel-sliders-${theme}.png`) });
    await panel.locator('section.layer').first().scrollIntoViewIfNeeded();
    await frame.screenshot({ path: path.join(screenshots, `panel-heatmaps-${theme}.png`) });
  }
});
