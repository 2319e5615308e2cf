/**
 * `npm run bench [-- --json] [-- --case NAME] [-- --no-reference]`: times ECP statistics,
 * iterative pruning, evaluation, loading and saving on the corpus MNIST model (10,000 test
 * images), a synthetic 784-2048-2048-2048-10 MLP and a 50-million-parameter MLP (memory), each
 * in its own process. Beside each run a PyTorch reference (and a NumPy one on OpenBLAS, since
 * Debian's torch uses the reference BLAS) computes the same statistics on the same data and
 * thread count. Prints the ratios PruneLens / PyTorch and PruneLens / NumPy and asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CaseResult } from './cases';
import type { ReferenceResult } from './reference';

const cases = ['mnist', 'mlp2048', 'mlp50m'];

function runChild(script: string, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, script), ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  return { stdout: run.stdout ?? '', stderr: run.stderr ?? '', status: run.status };
}

function runCaseProcess(name: string, extra: string[]): CaseResult | { name: string; error: string } {
  const run = runChild('cases.ts', [name, ...extra]);
  const lines = run.stdout.trim().split('\n');
  if (run.status !== 0) return { name, error: run.stderr.trim().split('\n').slice(-3).join(' ') };
  return JSON.parse(lines[lines.length - 1]) as CaseResult;
}

function describeReference(name: string, reference: ReferenceResult | null, ratio: number | null): string {
  if (!reference) return `${name}: not run`;
  if ('skipped' in reference) return `${name}: skipped (${reference.skipped})`;
  const version = reference.torch ?? reference.numpy ?? '';
  const shown = ratio === null ? '' : `, ratio PruneLens / ${name} ${ratio.toFixed(2)}`;
  return `${name} ${version}: ${reference.seconds.toFixed(2)} s on ${reference.threads} thread(s)${shown}`;
}

function printCase(result: CaseResult): void {
  const seconds = Object.entries(result.seconds)
    .map(([phase, value]) => `${phase} ${value.toFixed(2)} s`)
    .join(', ');
  console.log(`\n${result.name}: ${result.params.toLocaleString('en')} weights, ${result.samples} samples`);
  console.log(`  backend ${result.backend} (${result.threads} thread(s), simd ${result.simd})`);
  console.log(`  ${seconds}`);
  console.log(
    `  ECP statistics: ${result.ecpGflops.toFixed(1)} GFLOP at ${result.ecpGflopPerSecond.toFixed(1)} GFLOP/s, ${result.refinedPairs} pairs refined in float64`,
  );
  console.log(`  ${describeReference('PyTorch', result.reference, result.ratio)}`);
  console.log(`  ${describeReference('NumPy', result.numpy, result.ratioNumpy)}`);
  if (result.accuracy) {
    console.log(`  accuracy ${result.accuracy.before.toFixed(4)} → ${result.accuracy.after.toFixed(4)} at 90% in 10 steps`);
  }
  console.log(
    `  peak RSS ${result.peakRssMB.toFixed(0)} MB, peak TF.js tensors ${result.peakTensorMB.toFixed(0)} MB, wasm heap ${result.wasmHeapMB.toFixed(0)} MB`,
  );
}

function main(): void {
  const json = process.argv.includes('--json');
  const chosen = process.argv.includes('--case') ? [process.argv[process.argv.indexOf('--case') + 1]] : cases;
  const extra = process.argv.includes('--no-reference') ? ['--no-reference'] : [];
  const results = chosen.map((name) => runCaseProcess(name, extra));
  const panel = fs.existsSync(path.join(__dirname, 'panel.ts')) && !process.argv.includes('--case') ? runChild('panel.ts', []) : null;
  const panelLines = panel ? panel.stdout.trim().split('\n').filter(Boolean) : [];
  if (json) {
    const mnist = results.find((result): result is CaseResult => result.name === 'mnist' && 'seconds' in result);
    const reference = mnist?.reference && 'seconds' in mnist.reference ? mnist.reference.seconds : null;
    const numpy = mnist?.numpy && 'seconds' in mnist.numpy ? mnist.numpy.seconds : null;
    const summary = {
      ecp_seconds: mnist?.seconds.ecp ?? null,
      pytorch_seconds: reference,
      ratio: mnist?.ratio ?? null,
      numpy_seconds: numpy,
      ratio_numpy: mnist?.ratioNumpy ?? null,
    };
    console.log(JSON.stringify({ ...summary, cases: results, panel: panelLines }, null, 2));
    return;
  }
  for (const result of results) {
    if ('error' in result) console.log(`\n${result.name}: failed: ${result.error}`);
    else printCase(result);
  }
  if (panelLines.length > 0) console.log(`\n${panelLines.join('\n')}`);
}

main();
