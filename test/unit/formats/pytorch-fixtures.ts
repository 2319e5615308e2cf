/**
 * Fixtures for the safetensors, PyTorch and pickle tests: small model files written in
 * TypeScript, and Python with Debian's python3-torch and python3-numpy as an independent check.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { PickleDict, StorageRef, TensorRef } from '../../../src/core/formats/pickle';
import { encodeValues, type FloatDtype } from '../../../src/core/formats/safetensors-dtypes';
import { pickleStateDict } from '../../../src/core/formats/torch-pickler';
import { writeStoredZip } from '../../../src/core/formats/torch-zip';

const pythonCandidates = ['/usr/bin/python3', 'python3'];
const found = new Map<string, string | null>();

/** Returns a Python interpreter that can import `modules`, or null when there is none. */
export function findPython(modules: string): string | null {
  if (found.has(modules)) return found.get(modules) ?? null;
  let python: string | null = null;
  for (const candidate of pythonCandidates) {
    const result = spawnSync(candidate, ['-c', `import ${modules}`], { encoding: 'utf8' });
    if (result.status === 0) {
      python = candidate;
      break;
    }
  }
  found.set(modules, python);
  return python;
}

/** Skip message of tests that need python3-torch. */
export const noTorchMessage =
  'python3-torch is not installed; skipping the independent PyTorch check';

/** Skip message of tests that need python3-numpy. */
export const noNumpyMessage =
  'python3-numpy is not installed; skipping the independent NumPy check';

/** Runs a Python script with arguments and returns its standard output parsed as JSON. */
export function runPython(python: string, script: string, args: string[] = []): unknown {
  const result = spawnSync(python, ['-c', script, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`python failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** A tensor for a fixture file. */
export interface FixtureTensor {
  name: string;
  shape: number[];
  values: number[] | Float32Array;
  dtype?: FloatDtype;
}

/** Writes a safetensors file; `raw` replaces the header JSON to build broken files. */
export async function writeSafetensorsFixture(
  file: string,
  tensors: FixtureTensor[],
  options: { metadata?: Record<string, string>; raw?: string } = {},
): Promise<void> {
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    const dtype = tensor.dtype ?? 'F32';
    const bytes = encodeFixture(tensor.values, dtype);
    header[tensor.name] = {
      dtype,
      shape: tensor.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(options.raw ?? JSON.stringify(header));
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(json.length), true);
  await fs.writeFile(file, Buffer.concat([length, json, ...chunks]));
}

/** Encodes values little-endian; F64 values keep their full double precision. */
function encodeFixture(values: number[] | Float32Array, dtype: FloatDtype): Uint8Array {
  if (dtype === 'F64') return new Uint8Array(Float64Array.from(values).buffer);
  return encodeValues(Float32Array.from(values), dtype);
}

const storageClasses: Record<FloatDtype, string> = {
  F32: 'FloatStorage',
  F64: 'DoubleStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
};

/** Builds the entries of a torch.save zip for an OrderedDict of contiguous tensors. */
export function torchZipEntries(
  tensors: FixtureTensor[],
  folder = 'archive',
): { name: string; data: Uint8Array }[] {
  const dict = new PickleDict(true);
  const storages: { name: string; data: Uint8Array }[] = [];
  tensors.forEach((tensor, index) => {
    const dtype = tensor.dtype ?? 'F32';
    const storage = new StorageRef(
      storageClasses[dtype],
      String(index),
      'cpu',
      tensor.values.length,
    );
    const strides = tensor.shape.map((_, axis) =>
      tensor.shape.slice(axis + 1).reduce((a, b) => a * b, 1),
    );
    dict.entries.set(tensor.name, new TensorRef(storage, 0, tensor.shape, strides, false));
    storages.push({ name: `${folder}/data/${index}`, data: encodeFixture(tensor.values, dtype) });
  });
  return [
    { name: `${folder}/data.pkl`, data: pickleStateDict(dict) },
    { name: `${folder}/byteorder`, data: new TextEncoder().encode('little') },
    ...storages,
    { name: `${folder}/version`, data: new TextEncoder().encode('3\n') },
  ];
}

/** Writes a torch.save zip file of an OrderedDict of contiguous tensors. */
export async function writeTorchFixture(file: string, tensors: FixtureTensor[]): Promise<void> {
  await fs.writeFile(file, writeStoredZip(torchZipEntries(tensors)));
}

/** Returns `count` deterministic pseudo-random values in [-1, 1). */
export function sampleValues(count: number, seed = 1): Float32Array {
  const values = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 31 - 1;
  }
  return values;
}
