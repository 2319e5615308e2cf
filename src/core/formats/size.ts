/** Size of a model on disk and the limit above which it is not loaded. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { ModelFormatError } from '../errors';
import { resolveInside } from '../io';
import { findArchitectureFile } from './keras-sidecar';
import { findSidecar } from './torch-sidecar';

/** Default limit of `OpenOptions.maxBytes`: 2048 MiB, main file and weight files together. */
export const defaultMaxModelBytes = 2048 * 2 ** 20;

/** Largest TF.js manifest or ONNX file parsed to find the weight files it refers to. */
const maxIndexBytes = 64 * 2 ** 20;

const mebibyte = 2 ** 20;

/**
 * Sums the bytes of every file the reader opens: the main file, the weight shards of a TF.js
 * manifest and the external data files of an ONNX model. It adds the architecture file of an
 * HDF5, safetensors or PyTorch file (`architecture`, else the one found beside the model) whenever
 * it exists, even where the reader needs it only for weights-only files. References that are
 * invalid or lead outside the model's folder are left out here because the reader rejects them.
 * Limitation: an ONNX file above 64 MiB is counted alone, because external data is used by small
 * graph files.
 */
export async function modelSize(file: string, architecture?: string): Promise<number> {
  const main = await statSize(file);
  if (main === null) throw new ModelFormatError(file, 'file not found.');
  const name = path.basename(file).toLowerCase();
  const sidecar = await sidecarSize(file, name, architecture);
  if (main > maxIndexBytes) return main + sidecar;
  let references: string[] = [];
  if (name.endsWith('.json')) references = await manifestPaths(file);
  else if (name.endsWith('.onnx')) references = await externalLocations(file);
  const folder = path.dirname(file);
  let total = main + sidecar;
  for (const reference of new Set(references)) {
    const resolved = await resolveInside(file, folder, reference).catch(() => null);
    total += resolved ? ((await statSize(resolved)) ?? 0) : 0;
  }
  return total;
}

const hdf5Signature = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Size of the architecture file the reader would open: the Keras one beside an HDF5 file, the
 * `.arch.json` one beside other weight files; 0 for TF.js and ONNX files, which hold their own.
 */
async function sidecarSize(file: string, name: string, architecture?: string): Promise<number> {
  if (name.endsWith('.json') || name.endsWith('.onnx')) return 0;
  const head = await readHead(file, hdf5Signature.length);
  const isHdf5 = hdf5Signature.every((byte, index) => head[index] === byte);
  const found = await (isHdf5
    ? findArchitectureFile(file, architecture)
    : findSidecar(file, architecture)
  ).catch(() => null);
  return found ? ((await statSize(found)) ?? 0) : 0;
}

async function readHead(file: string, length: number): Promise<Uint8Array> {
  const head = new Uint8Array(length);
  const handle = await fs.open(file, 'r').catch(() => null);
  if (!handle) return head;
  try {
    await handle.read(head, 0, length, 0);
  } catch {
    // A folder or unreadable file: no signature, and the reader reports the problem.
  } finally {
    await handle.close();
  }
  return head;
}

/**
 * Throws a one-line error when the model (with its files, see `modelSize`) is larger than
 * `maxBytes`, saying its size and how to raise the limit.
 */
export async function checkModelSize(
  file: string,
  maxBytes = defaultMaxModelBytes,
  architecture?: string,
): Promise<void> {
  if (!Number.isFinite(maxBytes)) return;
  const size = await modelSize(file, architecture);
  if (size <= maxBytes) return;
  const needed = Math.ceil(size / mebibyte);
  throw new ModelFormatError(
    file,
    `is ${needed} MB with its weight files, above the ${Math.floor(maxBytes / mebibyte)} MB limit; ` +
      `raise the limit to load it (--max-size ${needed} on the command line).`,
  );
}

async function statSize(file: string): Promise<number | null> {
  try {
    const stat = await fs.stat(file);
    return stat.isFile() ? stat.size : 0;
  } catch {
    return null;
  }
}

async function manifestPaths(file: string): Promise<string[]> {
  try {
    const model = JSON.parse(await fs.readFile(file, 'utf8')) as { weightsManifest?: { paths?: unknown }[] };
    const groups = Array.isArray(model.weightsManifest) ? model.weightsManifest : [];
    return groups.flatMap((group) => (Array.isArray(group?.paths) ? group.paths : [])).filter((entry) => typeof entry === 'string');
  } catch {
    return [];
  }
}

async function externalLocations(file: string): Promise<string[]> {
  try {
    const model = onnx.ModelProto.decode(await fs.readFile(file));
    const tensors = model.graph?.initializer ?? [];
    return tensors.flatMap((tensor) =>
      (tensor.externalData ?? []).filter((entry) => entry.key === 'location').map((entry) => entry.value ?? ''),
    );
  } catch {
    return [];
  }
}
