/** Size of a model on disk and the limit above which it is not loaded. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { ModelFormatError } from '../errors';
import { resolveInside } from '../io';

/** Default limit of `OpenOptions.maxBytes`: 2048 MiB, main file and weight files together. */
export const defaultMaxModelBytes = 2048 * 2 ** 20;

/** Largest TF.js manifest or ONNX file parsed to find the weight files it refers to. */
const maxIndexBytes = 64 * 2 ** 20;

const mebibyte = 2 ** 20;

/**
 * Sums the bytes of a model: the main file plus the weight shards of a TF.js manifest and the
 * external data files of an ONNX model. References that are invalid or lead outside the model's
 * folder are left out here; the reader rejects them.
 * Limitation: sidecar architecture files (a few kilobytes) are not counted, and an ONNX file
 * above 64 MiB is counted alone, because external data is used by small graph files.
 */
export async function modelSize(file: string): Promise<number> {
  const main = await statSize(file);
  if (main === null) throw new ModelFormatError(file, 'file not found.');
  if (main > maxIndexBytes) return main;
  const name = path.basename(file).toLowerCase();
  let references: string[] = [];
  if (name.endsWith('.json')) references = await manifestPaths(file);
  else if (name.endsWith('.onnx')) references = await externalLocations(file);
  const folder = path.dirname(file);
  let total = main;
  for (const reference of new Set(references)) {
    const resolved = await resolveInside(file, folder, reference).catch(() => null);
    total += resolved ? ((await statSize(resolved)) ?? 0) : 0;
  }
  return total;
}

/**
 * Throws a one-line error when the model is larger than `maxBytes`, saying its size and how to
 * raise the limit.
 */
export async function checkModelSize(file: string, maxBytes = defaultMaxModelBytes): Promise<void> {
  if (!Number.isFinite(maxBytes)) return;
  const size = await modelSize(file);
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
