/**
 * Runs the PyTorch reference (`ecp_reference.py`) on the same compiled network and data as
 * PruneLens: writes the stages, weights and features to a temporary folder and reads back one
 * JSON line. Skipped with a reason when Debian's python3 or its torch is missing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ElementwiseOp, Plan } from '../src/core/compute/plan';
import type { Dataset } from '../src/core/data/types';

/** Debian's python3, which has python3-torch; the one on PATH may not. */
export const referencePython = '/usr/bin/python3';

/** A reference timing, or the reason it did not run. */
export type ReferenceResult = { seconds: number; threads: number; m0: number[]; torch?: string; numpy?: string } | { skipped: string };

/** Timings of PyTorch (Debian's, the reference) and of NumPy on OpenBLAS (a BLAS-bound point). */
export interface References {
  torch: ReferenceResult;
  numpy: ReferenceResult;
}

/** Writes the network and data, runs both references with `threads` threads, and returns their results. */
export function runReferences(plan: Plan, dataset: Dataset, threads: number, batchSize: number): References {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-reference-'));
  try {
    writeInputs(folder, plan, dataset, threads, batchSize);
    const torch = fs.existsSync(referencePython)
      ? runScript(referencePython, 'ecp_reference.py', folder, threads)
      : { skipped: `${referencePython} is not installed` };
    return { torch, numpy: runScript('python3', 'ecp_numpy.py', folder, threads) };
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

function runScript(python: string, script: string, folder: string, threads: number): ReferenceResult {
  const count = String(threads);
  const env = { ...process.env, OMP_NUM_THREADS: count, MKL_NUM_THREADS: count, OPENBLAS_NUM_THREADS: count };
  const run = spawnSync(python, [path.join(__dirname, script), folder], { encoding: 'utf8', env });
  if (run.error) return { skipped: `${python} failed to start: ${run.error.message}` };
  if (run.status !== 0) return { skipped: `${script} failed: ${lastLine(run.stderr)}` };
  return JSON.parse(lastLine(run.stdout)) as ReferenceResult;
}

function lastLine(text: string | null): string {
  const lines = (text ?? '').trim().split('\n');
  return lines[lines.length - 1];
}

/** Collects named float32 tensors into one buffer with offsets, as the script reads them. */
class TensorWriter {
  readonly tensors: Record<string, [number, number[]]> = {};
  private readonly parts: Float32Array[] = [];
  private offset = 0;

  add(name: string, values: Float32Array, shape: number[]): string {
    this.tensors[name] = [this.offset, shape];
    this.parts.push(values);
    this.offset += values.length;
    return name;
  }

  write(file: string): void {
    const descriptor = fs.openSync(file, 'w');
    try {
      for (const part of this.parts) fs.writeSync(descriptor, new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
    } finally {
      fs.closeSync(descriptor);
    }
  }
}

function writeInputs(folder: string, plan: Plan, dataset: Dataset, threads: number, batchSize: number): void {
  const writer = new TensorWriter();
  const ops = (prefix: string, list: ElementwiseOp[]) =>
    list.map((op, index) =>
      op.kind === 'affine'
        ? {
            kind: 'affine',
            scale: writer.add(`${prefix}.${index}.scale`, op.scale, [op.scale.length]),
            shift: writer.add(`${prefix}.${index}.shift`, op.shift, [op.shift.length]),
          }
        : { kind: 'activation', name: op.activation.name, alpha: op.activation.alpha },
    );
  const stages = plan.stages.map(({ layer, after }, index) => ({
    units: layer.units,
    inputs: layer.inputs,
    kernel: writer.add(`stage${index}.kernel`, layer.kernel, [layer.units, layer.inputs]),
    bias: layer.bias ? writer.add(`stage${index}.bias`, layer.bias, [layer.units]) : null,
    after: ops(`stage${index}.after`, after),
  }));
  const spec = {
    inputSize: plan.inputSize,
    threads,
    batchSize,
    before: ops('before', plan.before),
    stages,
    tensors: writer.tensors,
  };
  fs.writeFileSync(path.join(folder, 'spec.json'), JSON.stringify(spec));
  writer.write(path.join(folder, 'weights.bin'));
  const features = dataset.features;
  fs.writeFileSync(path.join(folder, 'features.bin'), new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
}
