/**
 * Keras 3 `.keras` archives: a zip with `config.json` (the model configuration),
 * `metadata.json` and `model.weights.h5`. In the weights file each layer's variables are
 * datasets `layers/<path>/vars/0`, `1`, ... where `<path>` is Keras's auto-generated snake_case
 * name (`dense`, `dense_1`, ... counted per layer class in model order), not the configured
 * layer name; Keras 2.13-2.15 wrote `_layer_checkpoint_dependencies/<layer name>/vars` instead.
 * Saving rewrites the zip with a new `model.weights.h5` (changed datasets only) and every other
 * entry's content unchanged, in the original entry order.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { unzipSync, zipSync, type UnzipFileInfo, type Zippable } from 'fflate';
import { ModelFormatError } from '../errors';
import { describeWriteError, settleTemporary, trackTemporary, writeFileAtomic } from '../io';
import type { Network } from '../model';
import { throwIfCancelled, type TaskOptions } from '../progress';
import {
  closeAfterReading,
  createVectorDataset,
  damagedHdf5Error,
  editH5File,
  getDataset,
  getGroup,
  type H5File,
  type H5Group,
  type H5Wasm,
  loadH5Wasm,
  openH5,
  outsideError,
  readStringAttribute,
} from './hdf5';
import { takeRejectedFile } from './hdf5-runtime';
import { parseKerasArchitecture, toSnakeCase, type KerasLayerSpec } from './keras-config';
import { isFloatKernel, readWeight, writeUpdates, type H5Ref } from './keras-h5';
import {
  buildKerasNetwork,
  changedDenseWeights,
  enableBias,
  type DenseBinding,
  type NewBias,
  type StoredWeight,
} from './keras-layers';
import type { FileProbe, LoadedModel, ModelFormat, OpenOptions, SaveReport } from './types';

const weightsEntry = 'model.weights.h5';
const configEntry = 'config.json';
/** Largest total unpacked size accepted, whatever the archive's size. */
const maxUnpackedBytes = 2 * 1024 ** 3;
/** Largest accepted ratio of an entry's unpacked size to its packed size, and of all entries to the archive. */
const maxCompressionRatio = 1000;

/** Keras 3 `.keras` zip archives. */
export const kerasZipFormat: ModelFormat = {
  id: 'keras',
  name: 'Keras 3 .keras',
  extensions: ['.keras'],
  match: matchKerasZip,
  open: openKerasZip,
};

function matchKerasZip(probe: FileProbe): boolean {
  const { head } = probe;
  const isZip = head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
  if (!isZip) return false;
  if (probe.path.toLowerCase().endsWith('.keras')) return true;
  const text = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('latin1');
  return (
    text.includes(weightsEntry) || (text.includes(configEntry) && text.includes('metadata.json'))
  );
}

/** One zip entry, kept to write the archive back. */
interface ZipEntry {
  name: string;
  data: Uint8Array;
  /** True when the entry was deflated (method 8) rather than stored. */
  deflated: boolean;
  /** Modification time, origin system and external attributes, when the directory was read. */
  attributes?: ZipEntryAttributes;
}

/** Metadata of a zip entry that fflate can write back. */
interface ZipEntryAttributes {
  mtime: Date;
  os: number;
  attrs: number;
}

/**
 * Reads each entry's modification time, origin system and external attributes from the zip's
 * central directory (APPNOTE.TXT 4.3.12 and 4.3.16), so a rewritten archive keeps them.
 * Returns an empty map for archives it cannot walk, such as ZIP64 ones.
 */
function readEntryAttributes(bytes: Uint8Array): Map<string, ZipEntryAttributes> {
  const result = new Map<string, ZipEntryAttributes>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = bytes.length - 22;
  while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) end--;
  if (end < 0) return result;
  const count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  const decoder = new TextDecoder();
  for (let i = 0; i < count && offset + 46 <= bytes.length; i++) {
    if (view.getUint32(offset, true) !== 0x02014b50) break;
    const time = view.getUint16(offset + 12, true);
    const date = view.getUint16(offset + 14, true);
    const nameLength = view.getUint16(offset + 28, true);
    const skip = view.getUint16(offset + 30, true) + view.getUint16(offset + 32, true);
    const name = decoder.decode(bytes.subarray(offset + 46, offset + 46 + nameLength));
    // MS-DOS date and time fields, read as local time because fflate writes local time.
    const mtime = new Date(
      (date >> 9) + 1980,
      ((date >> 5) & 0xf) - 1,
      date & 0x1f,
      time >> 11,
      (time >> 5) & 0x3f,
      (time & 0x1f) * 2,
    );
    const os = view.getUint16(offset + 4, true) >> 8;
    result.set(name, { mtime, os, attrs: view.getUint32(offset + 38, true) });
    offset += 46 + nameLength + skip;
  }
  return result;
}

/** Unpacks a zip, rejecting unsafe entry names and sizes that suggest a zip bomb. */
export function unpackZip(bytes: Uint8Array, file: string): ZipEntry[] {
  const infos: UnzipFileInfo[] = [];
  let declaredTotal = 0;
  const filter = (info: UnzipFileInfo) => {
    checkEntryName(info.name, file);
    declaredTotal += info.originalSize;
    const ratio = info.originalSize / Math.max(info.size, 1);
    const tooLarge =
      declaredTotal > maxUnpackedBytes || declaredTotal > maxCompressionRatio * bytes.length;
    if (tooLarge || (info.compression !== 0 && ratio > maxCompressionRatio)) {
      throw new ModelFormatError(
        file,
        `entry ${JSON.stringify(info.name)} unpacks to ${info.originalSize} bytes from ${info.size}; ` +
          'the archive looks like a zip bomb and is not read.',
      );
    }
    infos.push(info);
    return true;
  };
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter });
  } catch (error) {
    if (error instanceof ModelFormatError) throw error;
    throw new ModelFormatError(
      file,
      `is not a readable zip archive (${String(error)}); it may be truncated.`,
      {
        cause: error,
      },
    );
  }
  const attributes = readEntryAttributes(bytes);
  return infos.map((info) => {
    const data = files[info.name];
    if (!data || data.length !== info.originalSize) {
      throw new ModelFormatError(
        file,
        `entry ${JSON.stringify(info.name)} is damaged (size does not match).`,
      );
    }
    return {
      name: info.name,
      data,
      deflated: info.compression !== 0,
      attributes: attributes.get(info.name),
    };
  });
}

function checkEntryName(name: string, file: string): void {
  const normalized = name.replace(/\\/g, '/');
  const unsafe =
    normalized.startsWith('/') ||
    /^[a-zA-Z]:/.test(normalized) ||
    normalized.split('/').includes('..');
  if (unsafe || name.includes('\0')) {
    throw new ModelFormatError(
      file,
      `has an entry with an unsafe path ${JSON.stringify(name)}; it is not read.`,
    );
  }
}

async function openKerasZip(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  const bytes = await fs.readFile(file);
  const entries = unpackZip(bytes, file);
  const config = findEntry(entries, configEntry, file);
  const weights = findEntry(entries, weightsEntry, file);
  const topology = parseConfig(config.data, file);
  const architecture = parseKerasArchitecture(topology, file);
  const stored = await withTemporaryFile(weights.data, async (h5Path) => {
    const h5wasm = await loadH5Wasm();
    const handle = await openH5(h5Path, 'r', `${file} (${weightsEntry})`);
    try {
      const locate = variableLocator(h5wasm, handle, architecture.layers);
      const result = new Map<string, StoredWeight<H5Ref>[]>();
      for (const [index, spec] of architecture.layers.entries()) {
        throwIfCancelled(options.signal);
        options.onProgress?.({
          fraction: index / architecture.layers.length,
          message: `Reading ${spec.name}`,
        });
        result.set(spec.name, await readVariables(h5wasm, handle, locate(spec), spec, file));
      }
      return result;
    } catch (error) {
      throw damagedHdf5Error(`${file} (${weightsEntry})`, error);
    } finally {
      closeAfterReading(handle);
    }
  });
  const built = buildKerasNetwork(architecture, (spec) => stored.get(spec.name) ?? [], file);
  const { network, dense, notes } = built;
  // h5wasm 0.10 cannot create float16 datasets, so float16 kernels get no new bias.
  const canAddBias = (layerName: string) =>
    isFloatKernel(dense.get(layerName), ['float32', 'float64']);
  return {
    format: 'keras',
    path: file,
    network,
    notes,
    canAddBias,
    save: (changed, outPath, saveOptions) =>
      saveKerasZip({ source: file, entries, dense, canAddBias }, changed, outPath, saveOptions),
  };
}

function findEntry(entries: ZipEntry[], name: string, file: string): ZipEntry {
  const entry = entries.find((candidate) => candidate.name === name);
  if (!entry) {
    throw new ModelFormatError(
      file,
      `is a zip without ${name}, so it is not a Keras 3 .keras model.`,
    );
  }
  return entry;
}

function parseConfig(data: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (error) {
    throw new ModelFormatError(file, `has a ${configEntry} that is not valid JSON.`, {
      cause: error,
    });
  }
}

/** Writes `data` to a private temporary file for h5wasm, runs `work`, and removes the file. */
async function withTemporaryFile<T>(
  data: Uint8Array,
  work: (file: string) => Promise<T>,
): Promise<T> {
  const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-keras-'));
  trackTemporary(folder);
  const file = path.join(folder, weightsEntry);
  try {
    await fs.writeFile(file, data, { mode: 0o600 }).catch((error: unknown) => {
      throw describeWriteError(folder, error);
    });
    return await work(file);
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
    settleTemporary(folder);
  }
}

/**
 * Returns a function giving the HDF5 path of each layer's `vars` group. The `name` attribute of
 * `vars` (written by Keras 3.8 and 3.9 in the corpus) is used first. Without it, the path is
 * rebuilt the way Keras names it: the snake_case class name, then `_1`, `_2`, ... per repeat.
 */
function variableLocator(h5wasm: H5Wasm, root: H5Group, specs: KerasLayerSpec[]) {
  const legacy = getGroup(h5wasm, root, '_layer_checkpoint_dependencies');
  const containerName = legacy ? '_layer_checkpoint_dependencies' : 'layers';
  const container = legacy ?? getGroup(h5wasm, root, 'layers');
  const byNameAttribute = new Map<string, string>();
  for (const key of container?.keys() ?? []) {
    const vars = getGroup(h5wasm, container!, `${key}/vars`);
    const name = vars ? readStringAttribute(vars, 'name') : null;
    if (name !== null) byNameAttribute.set(name, key);
  }
  const structural = new Map<string, string>();
  const counts = new Map<string, number>();
  for (const spec of specs) {
    const base = toSnakeCase(spec.className);
    const count = counts.get(base) ?? 0;
    counts.set(base, count + 1);
    structural.set(spec.name, count === 0 ? base : `${base}_${count}`);
  }
  return (spec: KerasLayerSpec): string => {
    const key = byNameAttribute.get(spec.name) ?? (legacy ? spec.name : structural.get(spec.name)!);
    return `${containerName}/${key}/vars`;
  };
}

/** Reads datasets `0`, `1`, ... of a layer's `vars` group; a missing group means no weights. */
async function readVariables(
  h5wasm: H5Wasm,
  root: H5Group,
  varsPath: string,
  spec: KerasLayerSpec,
  file: string,
): Promise<StoredWeight<H5Ref>[]> {
  const vars = getGroup(h5wasm, root, varsPath);
  if (!vars) return [];
  const keys = vars.keys().filter((key) => /^\d+$/.test(key));
  keys.sort((a, b) => Number(a) - Number(b));
  const weights: StoredWeight<H5Ref>[] = [];
  for (const key of keys) {
    const dataset = getDataset(h5wasm, vars, key);
    if (!dataset) {
      // An external link to another file is not followed, so its dataset is missing here.
      const rejected = takeRejectedFile();
      if (rejected) throw outsideError(file, rejected, null);
      continue;
    }
    // Keras 3 stores a Dense layer's kernel as variable 0 and its bias as variable 1.
    const isKernel = spec.className === 'Dense' && key === '0';
    weights.push(await readWeight(dataset, `${varsPath}/${key}`, spec, file, isKernel));
  }
  return weights;
}

interface ZipSaveSource {
  source: string;
  entries: ZipEntry[];
  dense: Map<string, DenseBinding<H5Ref>>;
  canAddBias: (layerName: string) => boolean;
}

async function saveKerasZip(
  { source, entries, dense, canAddBias }: ZipSaveSource,
  network: Network,
  outPath: string,
  options: TaskOptions = {},
): Promise<SaveReport> {
  const changes = changedDenseWeights(network, dense, outPath, canAddBias);
  throwIfCancelled(options.signal);
  const shownAs = `${source} (${weightsEntry})`;
  const weights = findEntry(entries, weightsEntry, source);
  const newWeights = await withTemporaryFile(weights.data, async (h5Path) => {
    await editH5File(h5Path, shownAs, async (h5wasm, handle) => {
      await writeUpdates(h5wasm, handle, changes, shownAs);
      addVariableBiases(h5wasm, handle, changes.newBiases, shownAs);
    });
    return new Uint8Array(await fs.readFile(h5Path));
  });
  const newConfig =
    changes.newBiases.length > 0 ? configWithBiases(entries, changes.newBiases, source) : null;

  const zippable: Zippable = {};
  for (const entry of entries) {
    let data = entry.data;
    if (entry.name === weightsEntry) data = newWeights;
    if (entry.name === configEntry && newConfig) data = newConfig;
    zippable[entry.name] = [data, { level: entry.deflated ? 6 : 0, ...entry.attributes }];
  }
  await writeFileAtomic(outPath, zipSync(zippable));
  const notes = changes.newBiases.map(
    (bias) =>
      `Added a bias to Dense layer ${bias.layerName}, which had use_bias false; ` +
      'the optimizer state saved in the file no longer matches the model.',
  );
  return { files: [outPath], notes };
}

/** Stores each new bias as the variable after its kernel (`vars/0` kernel, `vars/1` bias). */
function addVariableBiases(
  h5wasm: H5Wasm,
  handle: H5File,
  biases: NewBias<H5Ref>[],
  shownAs: string,
): void {
  for (const { kernel, values } of biases) {
    const slash = kernel.ref.path.lastIndexOf('/');
    const biasPath = `${kernel.ref.path.slice(0, slash)}/${Number(kernel.ref.path.slice(slash + 1)) + 1}`;
    const dtype = kernel.ref.dtype === 'float64' ? 'float64' : 'float32';
    createVectorDataset(h5wasm, handle, biasPath, values, dtype, shownAs);
  }
}

function configWithBiases(
  entries: ZipEntry[],
  biases: NewBias<H5Ref>[],
  source: string,
): Uint8Array {
  const config = parseConfig(findEntry(entries, configEntry, source).data, source);
  enableBias(config, new Set(biases.map((bias) => bias.layerName)));
  return new TextEncoder().encode(JSON.stringify(config));
}
