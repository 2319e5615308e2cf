/**
 * Cancellation of every long core operation: each stops within one second of the abort with a
 * CancelledError, frees its tensors, and writes nothing. Also SIGINT to the CLI during a prune.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/core/compute/backend';
import { loadDataset } from '../../src/core/data';
import { CancelledError } from '../../src/core/errors';
import { openModel } from '../../src/core/formats';
import { runCompare, runEvaluate, runPrune, runScore, runSensitivity } from '../../src/core/jobs';
import type { ProgressEvent } from '../../src/core/progress';
import { saveKerasH5 } from '../../examples/digits-mlp/keras-h5-writer';
import { corpusPath } from '../helpers/corpus';
import { copyCorpusFolder, hashTree, temporaryFolder } from './helpers';

const work = temporaryFolder('cancel');
const folder = copyCorpusFolder('keras-h5-mnist-mlp-bn-dropout', path.join(work, 'model'));
const model = path.join(folder, 'mnist_mlp.h5');
const images = corpusPath('data', 'mnist-test', 't10k-images-idx3-ubyte.gz');
const labels = corpusPath('data', 'mnist-test', 't10k-labels-idx1-ubyte.gz');
const data = { data: images, labels, scale: 1 / 255, rows: [0, 2000] as [number, number] };
const evalRows: [number, number] = [2000, 4000];
const score = { method: 'ecp' as const, reference: 'logits' as const, seed: 0, batchSize: 256 };
const prune = { ...score, sparsity: 0.9, steps: 10, scope: 'global' as const, maxLayerSparsity: 0.99, missingBias: 'add' as const };

before(async () => {
  await initBackend('auto');
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

/**
 * Runs `job` with a signal that fires once progress passes `fraction` (or after `delayMs`), and
 * returns how long the job took to stop after the abort.
 */
async function cancelDuring(
  job: (task: { signal: AbortSignal; onProgress: (event: ProgressEvent) => void }) => Promise<unknown>,
  fraction: number,
  delayMs = 5_000,
): Promise<number> {
  const controller = new AbortController();
  let abortedAt = 0;
  const abort = () => {
    if (abortedAt === 0) {
      abortedAt = Date.now();
      controller.abort();
    }
  };
  const timer = setTimeout(abort, delayMs);
  try {
    await assert.rejects(
      job({ signal: controller.signal, onProgress: (event) => event.fraction >= fraction && abort() }),
      (error: unknown) => error instanceof CancelledError,
    );
  } finally {
    clearTimeout(timer);
  }
  assert.ok(abortedAt > 0, 'the job finished before it could be cancelled');
  return Date.now() - abortedAt;
}

describe('cancelling core jobs', () => {
  const jobs: { name: string; fraction: number; run: Parameters<typeof cancelDuring>[0] }[] = [
    { name: 'model loading', fraction: 0.3, run: (task) => openModel(model, task) },
    { name: 'data loading', fraction: 0.2, run: (task) => loadDataset({ ...data, rows: undefined }, task) },
    { name: 'scoring', fraction: 0.3, run: (task) => runScore({ model, data }, score, task) },
    { name: 'evaluation', fraction: 0.7, run: (task) => runEvaluate({ model, data, evalRows }, task) },
    { name: 'pruning', fraction: 0.3, run: (task) => runPrune({ model, data, evalRows }, prune, task) },
    { name: 'automatic pruning', fraction: 0.2, run: (task) => runPrune({ model, data, evalRows }, { ...prune, method: 'auto' }, task) },
    {
      name: 'sensitivity',
      fraction: 0.2,
      run: (task) => runSensitivity({ model, data, evalRows }, { ...score, sparsities: [0.5, 0.9] }, task),
    },
    {
      name: 'comparison',
      fraction: 0.2,
      run: (task) =>
        runCompare({ model, data, evalRows }, { ...prune, entries: [{ method: 'ecp', steps: 10 }], sparsities: [0.5, 0.9] }, task),
    },
  ];

  for (const { name, fraction, run } of jobs) {
    it(`stops ${name} within a second`, async () => {
      const tensors = tf.memory().numTensors;
      const before = hashTree(folder);
      const stopped = await cancelDuring(run, fraction);
      assert.ok(stopped < 1000, `stopped ${stopped} ms after the abort`);
      assert.equal(tf.memory().numTensors, tensors, 'tensors left after cancelling');
      assert.deepEqual(hashTree(folder), before, 'files changed or left behind');
    });
  }
});

describe('interrupting the CLI', () => {
  it('leaves nothing behind after SIGINT', async () => {
    const before = hashTree(folder);
    const root = path.resolve(__dirname, '..', '..');
    const args = ['prune', model, '--data', images, '--labels', labels, '--scale', String(1 / 255), '--rows', '0:2000', '--sparsity', '0.9', '--method', 'ecp'];
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let interruptedAt = 0;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // The first progress line comes once the model and the data are loaded.
      if (interruptedAt === 0 && /%/.test(stderr)) {
        interruptedAt = Date.now();
        setTimeout(() => child.kill('SIGINT'), 1500);
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
    );
    assert.ok(interruptedAt > 0, `no progress before exit: ${stderr}`);
    assert.equal(signal, null);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /cancelled; nothing was written/);
    assert.doesNotMatch(stderr, /\n\s+at /);
    assert.deepEqual(hashTree(folder), before, 'files changed or left behind');
  });
});

describe('stopping the CLI on a large model', () => {
  const large = path.join(work, 'large');
  const file = path.join(large, 'wide.h5');
  const width = 4000;

  before(async () => {
    fs.mkdirSync(large, { recursive: true });
    const kernel = Float32Array.from({ length: width * width }, (_, i) => Math.sin(i));
    await saveKerasH5(file, 'wide', [
      { kind: 'dense', name: 'wide', units: width, inputs: width, activation: 'relu', kernel, bias: new Float32Array(width) },
      { kind: 'dense', name: 'out', units: 1, inputs: width, activation: 'linear', kernel: new Float32Array(width).fill(1), bias: new Float32Array(1) },
    ]);
  });

  /** Starts a magnitude prune of the wide model into `out` and returns the child process. */
  function startPrune(out: string) {
    const root = path.resolve(__dirname, '..', '..');
    const args = ['prune', file, '--sparsity', '0.5', '--method', 'magnitude', '--out', out, '--quiet'];
    return spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), ...args], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  function exited(child: ReturnType<typeof spawn>): Promise<number | null> {
    return new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  it('removes the temporary file on SIGTERM', async () => {
    const before = hashTree(large);
    const out = path.join(large, 'out.h5');
    const child = startPrune(out);
    // The save writes a hidden temporary file beside the output, then renames it.
    let seen = false;
    while (child.exitCode === null && !seen) {
      seen = fs.readdirSync(large).some((name) => name.endsWith('.tmp'));
      if (!seen) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.ok(seen, 'the prune ended before its temporary file was seen');
    child.kill('SIGTERM');
    assert.equal(await exited(child), 143);
    assert.deepEqual(hashTree(large), before, 'files changed or left behind');
  });

  it('exits soon after SIGINT', async () => {
    const child = startPrune(path.join(large, 'out2.h5'));
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(child.exitCode, null, 'the prune ended before the interrupt');
    const interruptedAt = Date.now();
    child.kill('SIGINT');
    const code = await exited(child);
    assert.ok(code === 1 || code === 130, `exit code ${code}`);
    assert.ok(Date.now() - interruptedAt < 2500, `stopped ${Date.now() - interruptedAt} ms after SIGINT`);
    assert.deepEqual(fs.readdirSync(large).filter((name) => name !== 'wide.h5'), []);
  });
});
