/**
 * TensorFlow.js layers models: `model.json` (a Keras `modelTopology` plus a `weightsManifest`)
 * and binary weight shards beside it, as written by the Python converter, by `model.save()` in
 * the browser, or by older converters (one group per layer, shard names without `.bin`).
 *
 * Saving writes a new `model.json` at the output path and, for each manifest group, shards with
 * the same sizes as the originals named `<output base>.group<G>-shard<K>of<N>.bin` beside it.
 * The JSON is the original with only the shard paths changed; the shard bytes are the original
 * bytes except the changed Dense kernels and biases. A bias added to a `use_bias: false` layer
 * goes right after its kernel, in the manifest and in the kernel's shard, which grows by its size.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ModelFormatError } from '../errors';
import { writeFileAtomic } from '../io';
import type { Network } from '../model';
import { throwIfCancelled, type TaskOptions } from '../progress';
import { decodeFloats, encodeFloats } from './hdf5';
import { isObject, parseKerasArchitecture, type KerasLayerSpec } from './keras-config';
import {
  biasNameFor,
  buildKerasNetwork,
  changedDenseWeights,
  enableBias,
  type DenseBinding,
  type NewBias,
  type StoredWeight,
} from './keras-layers';
import {
  locateWeights,
  parseManifest,
  readGroups,
  type GroupBytes,
  type ManifestGroup,
  type WeightLocation,
} from './tfjs-manifest';
import type { FileProbe, LoadedModel, ModelFormat, OpenOptions, SaveReport } from './types';

/** TensorFlow.js layers models (`model.json` with weight shards). */
export const tfjsFormat: ModelFormat = {
  id: 'tfjs-layers',
  name: 'TensorFlow.js layers model',
  extensions: ['model.json'],
  match: matchTfjs,
  open: openTfjs,
};

function matchTfjs(probe: FileProbe): boolean {
  const text = Buffer.from(
    probe.head.buffer,
    probe.head.byteOffset,
    probe.head.byteLength,
  ).toString('utf8');
  return /^\uFEFF?\s*\{/.test(text) && text.includes('"modelTopology"');
}

type JsonObject = Record<string, unknown>;

async function openTfjs(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  const json = await readModelJson(file);
  const topology = json.modelTopology;
  if (json.format === 'graph-model' || (isObject(topology) && 'node' in topology)) {
    throw new ModelFormatError(
      file,
      'is a TensorFlow.js graph model; PruneLens reads layers models (convert with --output_format tfjs_layers_model).',
    );
  }
  const architecture = parseKerasArchitecture(topology, file);
  const groups = parseManifest(json.weightsManifest, file);
  const locations = locateWeights(groups);
  const groupBytes = await readGroups(file, groups);
  throwIfCancelled(options.signal);
  const { byLayer, unused } = assignWeights(architecture.layers, groups, locations, groupBytes);
  const built = buildKerasNetwork(architecture, (spec) => byLayer.get(spec.name) ?? [], file);
  if (unused.length > 0) {
    built.notes.push(
      `Weights not matched to any layer are carried over unchanged: ${unused.join(', ')}.`,
    );
  }
  const { network, dense, notes } = built;
  return {
    format: 'tfjs-layers',
    path: file,
    network,
    notes,
    canAddBias: (layerName) => dense.has(layerName),
    save: (changed, outPath, saveOptions) =>
      saveTfjs({ file, json, groups, groupBytes, dense }, changed, outPath, saveOptions),
  };
}

async function readModelJson(file: string): Promise<JsonObject> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    throw new ModelFormatError(file, 'is not valid JSON; the model.json may be truncated.', {
      cause: error,
    });
  }
  if (!isObject(parsed) || !isObject(parsed.modelTopology)) {
    throw new ModelFormatError(
      file,
      'has no "modelTopology" object; it is not a TensorFlow.js layers model.',
    );
  }
  return parsed;
}

/** Order of a layer's weights that Keras uses, by the last part of the weight name. */
const roleOrder = ['kernel', 'gamma', 'beta', 'moving_mean', 'moving_variance', 'bias'];

function roleRank(name: string): number {
  const role = name.slice(name.lastIndexOf('/') + 1).replace(/(_\d+)?(:\d+)?$/, '');
  const rank = roleOrder.indexOf(role);
  return rank < 0 ? roleOrder.length : rank;
}

/** Gives each layer the manifest weights named `<layer>/...`, in Keras's weight order. */
function assignWeights(
  specs: KerasLayerSpec[],
  groups: ManifestGroup[],
  locations: WeightLocation[][],
  groupBytes: GroupBytes[],
) {
  const byLayer = new Map<string, StoredWeight<WeightLocation>[]>();
  const unused: string[] = [];
  const names = new Set(specs.map((spec) => spec.name));
  for (const [groupIndex, group] of groups.entries()) {
    for (const [index, weight] of group.weights.entries()) {
      const layer = owningLayer(weight.name, names);
      if (!layer) {
        unused.push(weight.name);
        continue;
      }
      const location = locations[groupIndex][index];
      const bytes = groupBytes[groupIndex].bytes;
      const slice = bytes.subarray(location.byteOffset, location.byteOffset + location.byteLength);
      const values =
        weight.dtype === 'float32' ? decodeFloats(slice, 'float32') : new Float32Array(0);
      const stored = { name: weight.name, shape: weight.shape, values, ref: location };
      byLayer.set(layer, [...(byLayer.get(layer) ?? []), stored]);
    }
  }
  for (const weights of byLayer.values())
    weights.sort((a, b) => roleRank(a.name) - roleRank(b.name));
  return { byLayer, unused };
}

/** Finds the layer a weight belongs to: `dense_1/kernel`, or a prefixed `model/dense_1/kernel`. */
function owningLayer(weightName: string, layerNames: Set<string>): string | undefined {
  const parts = weightName.split('/');
  for (let end = parts.length - 1; end >= 1; end--) {
    for (let start = 0; start < end; start++) {
      const candidate = parts.slice(start, end).join('/');
      if (layerNames.has(candidate)) return candidate;
    }
  }
  return undefined;
}

interface TfjsSource {
  /** The model's `model.json`. */
  file: string;
  json: JsonObject;
  groups: ManifestGroup[];
  groupBytes: GroupBytes[];
  dense: Map<string, DenseBinding<WeightLocation>>;
}

async function saveTfjs(
  source: TfjsSource,
  network: Network,
  outPath: string,
  options: TaskOptions = {},
): Promise<SaveReport> {
  const canAddBias = (name: string) => source.dense.has(name);
  const { updates, newBiases } = changedDenseWeights(network, source.dense, outPath, canAddBias);
  const json = structuredClone(source.json);
  const manifest = json.weightsManifest as JsonObject[];
  const groups = source.groupBytes.map((group) => ({
    bytes: group.bytes.slice(),
    shardSizes: [...group.shardSizes],
  }));
  for (const update of updates) {
    const { group, byteOffset } = update.weight.ref;
    groups[group].bytes.set(encodeFloats(update.values, 'float32'), byteOffset);
  }
  // Inserting from the end of each group keeps the offsets of earlier weights valid.
  newBiases.sort((a, b) => b.kernel.ref.byteOffset - a.kernel.ref.byteOffset);
  for (const bias of newBiases) insertBias(groups, manifest, bias);
  enableBias(json.modelTopology, new Set(newBiases.map((bias) => bias.layerName)));

  const folder = path.dirname(outPath);
  const base = shardBase(source, outPath);
  const files: string[] = [];
  for (const [index, group] of groups.entries()) {
    const sizes = group.shardSizes;
    const names = sizes.map((_, shard) => shardName(base, index, shard, sizes.length));
    let offset = 0;
    for (const [shard, size] of sizes.entries()) {
      throwIfCancelled(options.signal);
      const shardPath = path.join(folder, names[shard]);
      await writeFileAtomic(shardPath, group.bytes.subarray(offset, offset + size));
      files.push(shardPath);
      offset += size;
    }
    manifest[index].paths = names;
  }
  await writeFileAtomic(outPath, JSON.stringify(json));
  const notes = newBiases.map(
    (bias) => `Added a bias to Dense layer ${bias.layerName}, which had use_bias false.`,
  );
  return { files: [outPath, ...files], notes };
}

function shardName(base: string, group: number, shard: number, count: number): string {
  return `${base}.group${group + 1}-shard${shard + 1}of${count}.bin`;
}

/**
 * Returns the start of the new shards' names: the output's name without `.json`, with `.pruned`
 * added while a name would be one of the original model's shards, which must stay as they are.
 */
function shardBase(source: TfjsSource, outPath: string): string {
  const modelFolder = path.dirname(source.file);
  const originals = new Set(
    source.groups.flatMap((group) =>
      group.paths.flatMap((shard) => [shard, `${shard}.bin`].map((name) => path.resolve(modelFolder, name))),
    ),
  );
  const folder = path.dirname(outPath);
  let base = path.basename(outPath).replace(/\.json$/i, '');
  const collides = (candidate: string) =>
    source.groups.some((group, index) =>
      group.paths.some((_, shard) =>
        originals.has(path.resolve(folder, shardName(candidate, index, shard, group.paths.length))),
      ),
    );
  while (collides(base)) base += '.pruned';
  return base;
}

/** Inserts a new bias right after its layer's kernel, in the group bytes and in the manifest. */
function insertBias(
  groups: { bytes: Uint8Array; shardSizes: number[] }[],
  manifest: JsonObject[],
  bias: NewBias<WeightLocation>,
): void {
  const { ref, name } = bias.kernel;
  const group = groups[ref.group];
  const end = ref.byteOffset + ref.byteLength;
  const added = encodeFloats(bias.values, 'float32');
  const bytes = new Uint8Array(group.bytes.length + added.length);
  bytes.set(group.bytes.subarray(0, end));
  bytes.set(added, end);
  bytes.set(group.bytes.subarray(end), end + added.length);
  group.bytes = bytes;

  // The shard that contains the kernel's last byte grows by the bias.
  let shardEnd = 0;
  const shard = group.shardSizes.findIndex((size) => (shardEnd += size) >= end);
  group.shardSizes[Math.max(shard, 0)] += added.length;

  const weights = manifest[ref.group].weights as JsonObject[];
  const kernelIndex = weights.findIndex((weight) => weight.name === name);
  const entry = { name: biasNameFor(name), shape: [bias.values.length], dtype: 'float32' };
  weights.splice(kernelIndex + 1, 0, entry);
}
