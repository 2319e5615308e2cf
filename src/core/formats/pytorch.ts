/**
 * PyTorch state dicts saved by `torch.save` in its zip format (`.pt`, `.pth`, `.save`, ...): an
 * archive folder with `data.pkl` (the pickled object), `data/<key>` (one entry per storage),
 * `byteorder` and `version`. The pickle is read by a restricted unpickler that never runs code.
 *
 * A checkpoint that nests the state dict under a key (`model_state_dict`, `state_dict`, ...) next
 * to other objects is read from that key, and the other objects are carried over unchanged.
 * Saving copies the archive and patches the changed storages in place (same dtype, same size),
 * with their CRC-32 updated, so every other byte stays identical.
 *
 * A new bias tensor needs a new storage and a rewritten pickle. That is done only for a state dict
 * at the root of the pickle: the archive is written anew with the same entries, a pickle of the
 * state dict with the bias after its weight, and the bias storage. Limitation: in a nested
 * checkpoint (and in big-endian archives) `canAddBias` is false, because re-pickling the other
 * objects could change them (a float 1.0 would come back as an int).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ModelFormatError } from '../errors';
import { writeFileAtomic } from '../io';
import type { Network } from '../model';
import { throwIfCancelled } from '../progress';
import {
  PickleDict,
  PickleError,
  StorageRef,
  storageTypes,
  TensorRef,
  unpickle,
  type PickleValue,
} from './pickle';
import {
  dtypeSizes,
  encodeValues,
  isFloatDtype,
  readView,
  writeView,
  type FloatDtype,
  type StridedView,
  type TensorDtype,
} from './safetensors-dtypes';
import {
  canAddBiasTensor,
  collectChanges,
  type StateDictArchitecture,
  type StateDictChanges,
  type TensorInfo,
  type TensorSource,
} from './state-dict';
import { pickleStateDict } from './torch-pickler';
import { resolveArchitecture } from './torch-sidecar';
import {
  extractEntry,
  patchStoredEntry,
  readZipEntries,
  writeStoredZip,
  ZipError,
  type ZipEntry,
} from './torch-zip';
import type { FileProbe, LoadedModel, ModelFormat, OpenOptions, SaveReport } from './types';

const torchExtensions = ['.pt', '.pth', '.save', '.ckpt', '.bin'];

/** Keys under which checkpoints commonly store the model's state dict, most specific first. */
const stateDictKeys = [
  'model_state_dict',
  'state_dict',
  'model_state',
  'model',
  'net',
  'network',
  'module',
  'weights',
  'params',
];

/** The pickled magic number that starts a legacy (non-zip) `torch.save` file. */
const legacyMagic = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** A tensor of the state dict with its storage entry. */
interface StoredTensor extends TensorInfo {
  ref: TensorRef;
  entry: ZipEntry;
}

/** The parts of an opened archive that reading and saving share. */
interface TorchArchive {
  bytes: Uint8Array;
  entries: ZipEntry[];
  /** Archive folder with a trailing slash, such as `mlp/`. */
  prefix: string;
  stateDict: PickleDict;
  tensors: StoredTensor[];
  littleEndian: boolean;
  /** Key path of the state dict inside the pickled object; empty when it is the root. */
  stateDictPath: string[];
}

function isLegacy(head: Uint8Array): boolean {
  return head[0] === 0x80 && legacyMagic.every((byte, i) => head[2 + i] === byte);
}

function isZip(head: Uint8Array): boolean {
  return head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** Returns the archive folder name: the folder holding `data.pkl`. */
function archivePrefix(file: string, entries: ZipEntry[]): string {
  const pickles = entries.filter((entry) => /^([^/]+\/)?data\.pkl$/.test(entry.name));
  if (pickles.length !== 1) {
    const found = pickles.length === 0 ? 'no' : 'several';
    throw new ModelFormatError(
      file,
      `is a zip file with ${found} '<folder>/data.pkl' entries, not a PyTorch state dict saved by torch.save.`,
    );
  }
  return pickles[0].name.slice(0, -'data.pkl'.length);
}

/** Reads and validates the archive: pickle, state dict, storages and tensor bounds. */
function readArchive(file: string, bytes: Uint8Array): TorchArchive {
  if (isLegacy(bytes)) {
    throw new ModelFormatError(
      file,
      'is a legacy (non-zip) torch.save file, which PruneLens does not read; re-save it with torch.save(obj, path, _use_new_zipfile_serialization=True).',
    );
  }
  const entries = readZipEntries(bytes);
  const prefix = archivePrefix(file, entries);
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  const byteorderEntry = byName.get(`${prefix}byteorder`);
  const byteorder = byteorderEntry
    ? new TextDecoder().decode(extractEntry(bytes, byteorderEntry)).trim()
    : 'little';
  if (byteorder !== 'little' && byteorder !== 'big') {
    throw new ModelFormatError(
      file,
      `has an invalid byteorder entry ${JSON.stringify(byteorder)}.`,
    );
  }
  const root = unpickle(extractEntry(bytes, byName.get(`${prefix}data.pkl`) as ZipEntry));
  const found = findStateDict(file, root);
  const tensors = collectTensors(file, found.dict, (key) => byName.get(`${prefix}data/${key}`));
  const littleEndian = byteorder === 'little';
  return {
    bytes,
    entries,
    prefix,
    stateDict: found.dict,
    tensors,
    littleEndian,
    stateDictPath: found.path,
  };
}

function tensorCount(dict: PickleDict): number {
  let count = 0;
  for (const value of dict.entries.values()) if (value instanceof TensorRef) count++;
  return count;
}

/** Finds the dict of tensors: the root itself, or a dict nested under a key of a checkpoint. */
function findStateDict(file: string, root: PickleValue): { dict: PickleDict; path: string[] } {
  if (root instanceof PickleDict && tensorCount(root) > 0) return { dict: root, path: [] };
  const candidates: { dict: PickleDict; path: string[] }[] = [];
  const visit = (value: PickleValue, trail: string[]) => {
    if (!(value instanceof PickleDict) || trail.length > 3) return;
    if (trail.length > 0 && tensorCount(value) > 0) candidates.push({ dict: value, path: trail });
    for (const [key, child] of value.entries) {
      if (typeof key === 'string' && !/optim/i.test(key)) visit(child, [...trail, key]);
    }
  };
  visit(root, []);
  const rank = (path: string[]) => {
    const index = stateDictKeys.indexOf(path[path.length - 1]);
    return index < 0 ? stateDictKeys.length : index;
  };
  candidates.sort(
    (a, b) => rank(a.path) - rank(b.path) || tensorCount(b.dict) - tensorCount(a.dict),
  );
  if (candidates.length === 0) {
    throw new ModelFormatError(
      file,
      'contains no state dict (no dict of tensors); save the model with torch.save(model.state_dict(), path).',
    );
  }
  return candidates[0];
}

function collectTensors(
  file: string,
  dict: PickleDict,
  storageEntry: (key: string) => ZipEntry | undefined,
): StoredTensor[] {
  const tensors: StoredTensor[] = [];
  for (const [name, value] of dict.entries) {
    if (typeof name !== 'string' || !(value instanceof TensorRef)) continue;
    const dtype = storageTypes[value.storage.storageType] as TensorDtype;
    const entry = storageEntry(value.storage.key);
    if (!entry) {
      throw new ModelFormatError(
        file,
        `tensor '${name}' refers to storage '${value.storage.key}', which is missing from the archive.`,
      );
    }
    const expected = value.storage.numel * dtypeSizes[dtype];
    if (entry.size !== expected) {
      throw new ModelFormatError(
        file,
        `storage '${value.storage.key}' has ${entry.size} bytes but ${value.storage.numel} ${dtype} elements need ${expected}.`,
      );
    }
    checkBounds(file, name, value);
    tensors.push({ name, dtype, shape: value.shape, ref: value, entry });
  }
  return tensors;
}

/** Checks that every element of a strided tensor lies inside its storage. */
function checkBounds(file: string, name: string, tensor: TensorRef): void {
  const valid =
    tensor.offset >= 0 &&
    tensor.shape.every((size) => size >= 0) &&
    tensor.strides.every((stride) => stride >= 0);
  if (!valid)
    throw new ModelFormatError(file, `tensor '${name}' has a negative size, stride or offset.`);
  if (tensor.shape.some((size) => size === 0)) return;
  const last = tensor.shape.reduce(
    (sum, size, axis) => sum + (size - 1) * tensor.strides[axis],
    tensor.offset,
  );
  if (last >= tensor.storage.numel) {
    throw new ModelFormatError(
      file,
      `tensor '${name}' reaches element ${last} of a storage of ${tensor.storage.numel} elements.`,
    );
  }
}

function viewOf(
  file: string,
  tensor: StoredTensor,
  bytes: Uint8Array,
  littleEndian: boolean,
): StridedView {
  if (!isFloatDtype(tensor.dtype)) {
    throw new ModelFormatError(
      file,
      `tensor '${tensor.name}' has element type ${tensor.dtype}; only float weights are read.`,
    );
  }
  const { offset, shape, strides } = tensor.ref;
  return { dtype: tensor.dtype, bytes, shape, strides, offset, littleEndian };
}

function tensorSource(file: string, archive: TorchArchive): TensorSource {
  const byName = new Map(archive.tensors.map((tensor) => [tensor.name, tensor]));
  const storages = new Map<string, Uint8Array>();
  const storageBytes = (tensor: StoredTensor) => {
    let bytes = storages.get(tensor.entry.name);
    if (!bytes) {
      bytes = extractEntry(archive.bytes, tensor.entry);
      storages.set(tensor.entry.name, bytes);
    }
    return bytes;
  };
  return {
    tensors: archive.tensors,
    read(name) {
      const tensor = byName.get(name);
      if (!tensor) throw new ModelFormatError(file, `tensor '${name}' not found.`);
      return readView(viewOf(file, tensor, storageBytes(tensor), archive.littleEndian));
    },
  };
}

/** Turns the zip and pickle readers' errors into one-line errors that name the file. */
function asFormatError(file: string, error: unknown): unknown {
  if (error instanceof PickleError)
    return new ModelFormatError(file, `${error.message}.`, { cause: error });
  if (error instanceof ZipError)
    return new ModelFormatError(file, `invalid zip archive: ${error.message}.`, { cause: error });
  return error;
}

/** Opens a PyTorch zip state dict. */
async function openPytorch(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  throwIfCancelled(options.signal);
  const bytes = new Uint8Array(await fs.readFile(file));
  let archive: TorchArchive;
  let architecture: StateDictArchitecture;
  let source: TensorSource;
  try {
    archive = readArchive(file, bytes);
    source = tensorSource(file, archive);
    architecture = await resolveArchitecture(file, source, options);
  } catch (error) {
    throw asFormatError(file, error);
  }
  const notes = [...architecture.notes];
  if (archive.stateDictPath.length > 0) {
    notes.push(
      `Read the state dict under '${archive.stateDictPath.join('.')}'; the checkpoint's other entries are carried over unchanged.`,
    );
  }
  return {
    format: 'pytorch',
    path: file,
    network: architecture.network,
    notes,
    canAddBias: (layer) =>
      archive.stateDictPath.length === 0 &&
      archive.littleEndian &&
      canAddBiasTensor(architecture, source, layer),
    save: (network, outPath, saveOptions) => {
      throwIfCancelled(saveOptions?.signal);
      return savePytorch(file, archive, architecture, source, network, outPath);
    },
  };
}

async function savePytorch(
  file: string,
  archive: TorchArchive,
  architecture: StateDictArchitecture,
  source: TensorSource,
  network: Network,
  outPath: string,
): Promise<SaveReport> {
  const changes = collectChanges(file, architecture, network, source);
  const canAdd = archive.stateDictPath.length === 0 && archive.littleEndian;
  if (changes.additions.length > 0 && !canAdd) {
    const layers = changes.additions.map((addition) => addition.layer).join(', ');
    throw new ModelFormatError(
      file,
      `cannot add a bias to layer ${layers}: biases are added only to a plain little-endian state dict, not inside a checkpoint; prune that layer without compensation.`,
    );
  }
  const storages = new Map<ZipEntry, Uint8Array>();
  for (const [name, values] of changes.updates) {
    const tensor = archive.tensors.find((candidate) => candidate.name === name) as StoredTensor;
    let bytes = storages.get(tensor.entry);
    if (!bytes) {
      bytes = extractEntry(archive.bytes, tensor.entry).slice();
      storages.set(tensor.entry, bytes);
    }
    writeView(viewOf(file, tensor, bytes, archive.littleEndian), values);
  }
  const notes: string[] = [];
  let output: Uint8Array;
  try {
    if (changes.additions.length > 0) {
      output = rebuildWithBiases(archive, storages, changes.additions, notes);
    } else {
      output = archive.bytes.slice();
      for (const [entry, bytes] of storages) patchStoredEntry(output, entry, bytes);
    }
  } catch (error) {
    throw asFormatError(file, error);
  }
  await writeFileAtomic(outPath, output);
  return { files: [path.resolve(outPath)], notes };
}

/**
 * Writes the archive anew: the same entries in the same order with changed storages, a new pickle
 * whose state dict has each new bias after its weight, and one new storage per bias after the
 * last existing storage.
 */
function rebuildWithBiases(
  archive: TorchArchive,
  storages: Map<ZipEntry, Uint8Array>,
  additions: StateDictChanges['additions'],
  notes: string[],
): Uint8Array {
  const storagePrefix = `${archive.prefix}data/`;
  const keys = archive.entries
    .filter((entry) => entry.name.startsWith(storagePrefix))
    .map((entry) => Number(entry.name.slice(storagePrefix.length)))
    .filter(Number.isSafeInteger);
  let nextKey = keys.length > 0 ? Math.max(...keys) + 1 : 0;
  const added: { name: string; data: Uint8Array }[] = [];
  const biases = new Map<string, [string, TensorRef]>();
  for (const addition of additions) {
    const weight = archive.tensors.find((tensor) => tensor.name === addition.after) as StoredTensor;
    const key = String(nextKey++);
    const storage = new StorageRef(
      weight.ref.storage.storageType,
      key,
      weight.ref.storage.location,
      addition.values.length,
    );
    const { requiresGrad, isParameter } = weight.ref;
    const bias = new TensorRef(
      storage,
      0,
      [addition.values.length],
      [1],
      requiresGrad,
      isParameter,
    );
    biases.set(addition.after, [addition.name, bias]);
    added.push({
      name: `${storagePrefix}${key}`,
      data: encodeValues(addition.values, weight.dtype as FloatDtype),
    });
    notes.push(
      `Added a bias tensor '${addition.name}' (${weight.dtype}) to layer ${addition.layer}.`,
    );
  }
  const pickle = pickleStateDict(withBiases(archive.stateDict, biases));
  const storageIndices = archive.entries.map((entry, index) =>
    entry.name.startsWith(storagePrefix) ? index : -1,
  );
  const lastStorage = Math.max(...storageIndices);
  const entries = archive.entries.flatMap((entry, index) => {
    const data =
      entry.name === `${archive.prefix}data.pkl`
        ? pickle
        : (storages.get(entry) ?? extractEntry(archive.bytes, entry));
    return index === lastStorage
      ? [{ name: entry.name, data }, ...added]
      : [{ name: entry.name, data }];
  });
  return writeStoredZip(entries);
}

/** Returns a copy of the state dict with each bias inserted after the weight it belongs to. */
function withBiases(stateDict: PickleDict, biases: Map<string, [string, TensorRef]>): PickleDict {
  const copy = new PickleDict(stateDict.ordered);
  for (const [key, value] of stateDict.attributes) copy.attributes.set(key, value);
  for (const [key, value] of stateDict.entries) {
    copy.entries.set(key, value);
    const bias = typeof key === 'string' ? biases.get(key) : undefined;
    if (bias) copy.entries.set(bias[0], bias[1]);
  }
  return copy;
}

/** Returns true for a torch.save zip archive or a legacy torch.save file, which `open` rejects. */
function matchPytorch(probe: FileProbe): boolean {
  const { head } = probe;
  const extension = path.extname(probe.path).toLowerCase();
  if (isLegacy(head)) return true;
  if (!isZip(head)) return false;
  if (torchExtensions.includes(extension)) return true;
  const nameLength = head.length >= 30 ? head[26] | (head[27] << 8) : 0;
  const firstName = new TextDecoder().decode(head.subarray(30, 30 + nameLength));
  return /^([^/]+\/)?data\.pkl$/.test(firstName);
}

/** PyTorch zip state dict reader and writer. */
export const pytorchFormat: ModelFormat = {
  id: 'pytorch',
  name: 'PyTorch state dict',
  extensions: torchExtensions,
  match: matchPytorch,
  open: openPytorch,
};
