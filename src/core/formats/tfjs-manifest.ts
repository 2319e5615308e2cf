/**
 * The `weightsManifest` of a TensorFlow.js layers model: groups of weights, each stored as the
 * concatenation of its shard files in the order listed. Weights are laid out one after another
 * in manifest order, little-endian, with no padding.
 * Format: https://www.tensorflow.org/js/guide/save_load (weights manifest).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ModelFormatError, PruneLensError } from '../errors';
import { resolveInside } from '../io';
import { shapeSize } from '../model';
import { isObject } from './keras-config';

/** One weight entry of the manifest. */
export interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
}

/** One manifest group with its shard files. */
export interface ManifestGroup {
  paths: string[];
  weights: ManifestWeight[];
}

/** Position of a weight's bytes inside its group's concatenated shards. */
export interface WeightLocation {
  group: number;
  byteOffset: number;
  byteLength: number;
}

const bytesPerElement: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** Validates the manifest's structure and rejects quantized or unsupported weights. */
export function parseManifest(value: unknown, file: string): ManifestGroup[] {
  if (!Array.isArray(value)) {
    throw new ModelFormatError(
      file,
      'has no "weightsManifest" list; it is not a TensorFlow.js layers model.',
    );
  }
  return value.map((group, index) => parseGroup(group, index, file));
}

function parseGroup(group: unknown, index: number, file: string): ManifestGroup {
  const paths = isObject(group) ? group.paths : undefined;
  const weights = isObject(group) ? group.weights : undefined;
  const valid =
    Array.isArray(paths) &&
    paths.every((item) => typeof item === 'string') &&
    Array.isArray(weights);
  if (!valid) {
    throw new ModelFormatError(
      file,
      `has an invalid weightsManifest group ${index + 1} (needs "paths" and "weights").`,
    );
  }
  return { paths: paths as string[], weights: weights.map((weight) => parseWeight(weight, file)) };
}

function parseWeight(weight: unknown, file: string): ManifestWeight {
  if (!isObject(weight) || typeof weight.name !== 'string' || !Array.isArray(weight.shape)) {
    throw new ModelFormatError(
      file,
      `has an invalid weight entry ${JSON.stringify(weight)} in weightsManifest.`,
    );
  }
  const { name, shape } = weight;
  const dtype = typeof weight.dtype === 'string' ? weight.dtype : 'float32';
  if (weight.quantization !== undefined) {
    const quantized = isObject(weight.quantization) ? weight.quantization.dtype : undefined;
    throw new ModelFormatError(
      file,
      `weight ${name} is quantized to ${String(quantized)}; PruneLens reads unquantized weights only, ` +
        'so convert the model again without the --quantize options.',
    );
  }
  if (!(dtype in bytesPerElement)) {
    throw new ModelFormatError(
      file,
      `weight ${name} has dtype ${dtype}; only float32, int32 and bool are read.`,
    );
  }
  if (!shape.every((dimension) => Number.isInteger(dimension) && dimension >= 0)) {
    throw new ModelFormatError(
      file,
      `weight ${name} has an invalid shape ${JSON.stringify(shape)}.`,
    );
  }
  return { name, shape: shape as number[], dtype };
}

/** Computes each weight's place in its group; the result is in manifest order. */
export function locateWeights(groups: ManifestGroup[]): WeightLocation[][] {
  return groups.map((group, index) => {
    let byteOffset = 0;
    return group.weights.map((weight) => {
      const byteLength = shapeSize(weight.shape) * bytesPerElement[weight.dtype];
      const location = { group: index, byteOffset, byteLength };
      byteOffset += byteLength;
      return location;
    });
  });
}

/**
 * Resolves a shard path beside the model, accepting a name written with or without `.bin`
 * when only the other spelling exists. Paths leaving the model's folder are rejected.
 */
export async function resolveShard(file: string, shard: string): Promise<string> {
  const folder = path.dirname(file);
  try {
    return await resolveInside(file, folder, shard);
  } catch (error) {
    const alternative = shard.endsWith('.bin') ? shard.slice(0, -4) : `${shard}.bin`;
    const notFound = error instanceof PruneLensError && /was not found/.test(error.message);
    if (notFound) {
      try {
        return await resolveInside(file, folder, alternative);
      } catch {
        // Report the spelling the manifest uses.
      }
    }
    throw asFormatError(error, file);
  }
}

function asFormatError(error: unknown, file: string): Error {
  if (!(error instanceof PruneLensError) || error instanceof ModelFormatError)
    return error as Error;
  const message = error.message.startsWith(`${file}: `)
    ? error.message.slice(file.length + 2)
    : error.message;
  return new ModelFormatError(file, message, { cause: error });
}

/** The bytes of one weight group and the sizes of the shards they came from. */
export interface GroupBytes {
  bytes: Uint8Array;
  shardSizes: number[];
}

/** Reads every group's shards in manifest order, after checking their sizes against the manifest. */
export async function readGroups(file: string, groups: ManifestGroup[]): Promise<GroupBytes[]> {
  const locations = locateWeights(groups);
  const resolved: { shards: string[]; sizes: number[] }[] = [];
  for (const [index, group] of groups.entries()) {
    const shards = await Promise.all(group.paths.map((shard) => resolveShard(file, shard)));
    const sizes = await Promise.all(shards.map(async (shard) => (await fs.stat(shard)).size));
    const stored = sizes.reduce((sum, size) => sum + size, 0);
    const expected = locations[index].reduce((sum, location) => sum + location.byteLength, 0);
    if (stored !== expected) {
      throw new ModelFormatError(
        file,
        `weight group ${index + 1} (${group.paths.join(', ')}) holds ${stored} bytes but its manifest ` +
          `describes ${expected}; a shard is missing, truncated or from another model.`,
      );
    }
    resolved.push({ shards, sizes });
  }
  const result: GroupBytes[] = [];
  for (const { shards, sizes } of resolved) {
    const parts = await Promise.all(shards.map((shard) => fs.readFile(shard)));
    result.push({ bytes: new Uint8Array(Buffer.concat(parts)), shardSizes: sizes });
  }
  return result;
}
