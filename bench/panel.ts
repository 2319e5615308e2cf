/**
 * Panel budgets, printed and not asserted. Drawing a 784 × 256 heatmap (tile cut and colour
 * mapping) should take under 100 ms. A slider move (thresholds and mask overlays of every layer)
 * should take under 50 ms. Measured metrics on 5,000 samples (preview pruning and evaluation)
 * should follow within 500 ms.
 * Canvas upload (`putImageData`) is not included because Node has no canvas; the e2e test prints
 * the times the real webview measures.
 */
import * as path from 'node:path';
import { initBackend } from '../src/core/compute/backend';
import { evaluateNetwork } from '../src/core/compute/evaluate';
import { scoreNetwork } from '../src/core/compute/prune';
import { loadDataset } from '../src/core/data';
import { openModel } from '../src/core/formats';
import { denseLayers } from '../src/core/model';
import { dimPruned, logRange, paintLog, type Rgb } from '../src/core/view/colour';
import { applySparsities } from '../src/core/view/mask';
import { globalSparsities, removedCount, sortScores, summarizeSorted, thresholdFor } from '../src/core/view/summary';
import { buildTile, type Tile } from '../src/core/view/tiles';

/** One measured budget. */
export interface PanelBenchResult {
  name: string;
  milliseconds: number;
  budget: number;
}

const corpus = path.resolve(__dirname, '..', '..', 'shared', 'corpus');
const stops: Rgb[] = [[30, 30, 30], [55, 148, 255], [212, 212, 212]];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(repeats: number, work: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    work();
    times.push(performance.now() - started);
  }
  return median(times);
}

async function timeAsync(repeats: number, work: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return median(times);
}

/** Measures the panel budgets on the corpus MNIST model and prints them. */
export async function benchPanel(): Promise<PanelBenchResult[]> {
  await initBackend();
  const model = await openModel(path.join(corpus, 'keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5'));
  const mnist = path.join(corpus, 'data', 'mnist-test');
  const data = { data: path.join(mnist, 't10k-images-idx3-ubyte.gz'), labels: path.join(mnist, 't10k-labels-idx1-ubyte.gz'), scale: 1 / 255 };
  const calibration = await loadDataset({ ...data, rows: [0, 2000] });
  const evaluation = await loadDataset({ ...data, rows: [5000, 10000] });
  const settings = { method: 'ecp' as const, reference: 'logits' as const, seed: 0, batchSize: 256 };
  const scores = (await scoreNetwork(model.network, calibration, settings)).layers;
  const dense = denseLayers(model.network);
  const values = scores.map((layer, i) => ({ ...layer, kernel: dense[i].kernel }));
  const sorted = new Map(scores.map((layer) => [layer.name, sortScores(layer.importance)]));
  const summaries = scores.map((layer) => summarizeSorted(layer.name, sorted.get(layer.name) as Float32Array));

  const full = { row0: 0, row1: 256, col0: 0, col1: 784, maxRows: 256, maxCols: 256 };
  let tile: Tile = buildTile(values[0], full);
  const draw = time(10, () => {
    tile = buildTile(values[0], full);
    const out = new Uint8ClampedArray(tile.rows * tile.cols * 4);
    paintLog(tile.importance, logRange(tile.quantiles), stops, out);
  });

  const tiles = values.map((layer) => buildTile(layer, { row0: 0, row1: layer.units, col0: 0, col1: layer.inputs, maxRows: 256, maxCols: 256 }));
  const buffers = tiles.map((each) => new Uint8ClampedArray(each.rows * each.cols * 4));
  const ranges = tiles.map((each) => logRange(each.quantiles));
  let step = 0;
  const slider = time(20, () => {
    const sparsities = globalSparsities(summaries, 0.5 + 0.02 * (step++ % 20), 0.99);
    summaries.forEach((summary, i) => {
      const threshold = thresholdFor(summary, removedCount(summary, sparsities[i]));
      paintLog(tiles[i].importance, ranges[i], stops, buffers[i]);
      dimPruned(buffers[i], tiles[i].quantiles, tiles[i].rows * tiles[i].cols, threshold, stops[0]);
    });
  });

  const metrics = await timeAsync(5, async () => {
    const sparsities = Object.fromEntries(scores.map((layer) => [layer.name, 0.9]));
    const pruned = applySparsities(model.network, scores, sorted, sparsities);
    await evaluateNetwork(pruned, model.network, evaluation);
  });

  const results: PanelBenchResult[] = [
    { name: 'panel: draw a 784×256 heatmap (tile + colours)', milliseconds: draw, budget: 100 },
    { name: 'panel: slider move, overlays of 4 layers', milliseconds: slider, budget: 50 },
    { name: `panel: measured metrics on ${evaluation.samples} samples`, milliseconds: metrics, budget: 500 },
  ];
  for (const result of results) {
    const verdict = result.milliseconds <= result.budget ? 'within' : 'OVER';
    console.log(`${result.name}: ${result.milliseconds.toFixed(1)} ms (budget ${result.budget} ms, ${verdict})`);
  }
  return results;
}

if (require.main === module) {
  benchPanel().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
