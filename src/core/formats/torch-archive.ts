/**
 * The containers `torch.save` writes, read into one shape: the pickled object, the state dict
 * inside it, its tensors and where each storage's bytes are. Zip archives (PyTorch 1.6 and later)
 * keep `<folder>/data.pkl`, `<folder>/data/<key>` per storage, `byteorder` and `version`. Legacy
 * files are described in `torch-legacy.ts`.
 */
import { ModelFormatError } from '../errors';
import { PickleDict, storageTypes, TensorRef, unpickle, type PickleValue } from './pickle';
import { dtypeSizes, type TensorDtype } from './safetensors-dtypes';
import type { TensorInfo } from './state-dict';
import { isLegacyTorchFile, readLegacyContainer } from './torch-legacy';
import {
  extractEntry,
  patchStoredEntry,
  readZipEntries,
  writeStoredZip,
  type ZipEntry,
} from './torch-zip';

/** Location of one storage's bytes: a zip entry, or a byte range of a legacy file. */
export interface StorageSlot {
  key: string;
  size: number;
  entry?: ZipEntry;
  offset?: number;
}

/** A tensor of the state dict with the slot of its storage. */
export interface StoredTensor extends TensorInfo {
  ref: TensorRef;
  slot: StorageSlot;
}

/** The parts of an opened file that reading and saving share. */
export interface TorchArchive {
  kind: 'zip' | 'legacy';
  bytes: Uint8Array;
  /** Zip entries in stored order; empty for legacy files. */
  entries: ZipEntry[];
  /** Zip folder with a trailing slash, such as `mlp/`; empty for legacy files. */
  prefix: string;
  stateDict: PickleDict;
  /** Key path of the state dict inside the pickled object; empty when it is the root. */
  stateDictPath: string[];
  tensors: StoredTensor[];
  littleEndian: boolean;
}

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

/** Returns true for the first bytes of a zip archive. */
export function isZip(head: Uint8Array): boolean {
  return head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** Returns the zip folder name: the folder with `data.pkl`. */
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

/**
 * Reads and validates a zip or legacy file: the pickle, the state dict, the storages and the
 * bounds of every tensor, before any tensor data is read.
 */
export function readArchive(file: string, bytes: Uint8Array): TorchArchive {
  return isLegacyTorchFile(bytes) ? readLegacyArchive(file, bytes) : readZipArchive(file, bytes);
}

function readZipArchive(file: string, bytes: Uint8Array): TorchArchive {
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
  const slotOf = (key: string): StorageSlot | undefined => {
    const entry = byName.get(`${prefix}data/${key}`);
    return entry && { key, size: entry.size, entry };
  };
  const tensors = collectTensors(file, found.dict, slotOf);
  const littleEndian = byteorder === 'little';
  const stateDictPath = found.path;
  return {
    kind: 'zip',
    bytes,
    entries,
    prefix,
    stateDict: found.dict,
    stateDictPath,
    tensors,
    littleEndian,
  };
}

function readLegacyArchive(file: string, bytes: Uint8Array): TorchArchive {
  const container = readLegacyContainer(bytes);
  const found = findStateDict(file, container.root);
  const slotOf = (key: string): StorageSlot | undefined => {
    const storage = container.storages.get(key);
    return storage && { key, size: storage.size, offset: storage.offset };
  };
  const tensors = collectTensors(file, found.dict, slotOf);
  return {
    kind: 'legacy',
    bytes,
    entries: [],
    prefix: '',
    stateDict: found.dict,
    stateDictPath: found.path,
    tensors,
    littleEndian: container.littleEndian,
  };
}

/** Returns the bytes of a storage: a view of the file where possible. */
export function readStorage(archive: TorchArchive, slot: StorageSlot): Uint8Array {
  if (slot.entry) return extractEntry(archive.bytes, slot.entry);
  const offset = slot.offset as number;
  return archive.bytes.subarray(offset, offset + slot.size);
}

/**
 * Returns a copy of the file with the given storages replaced in place (same sizes). A zip whose
 * changed storages are compressed, which torch.save never writes, is written anew with every
 * entry stored uncompressed, in the same order.
 */
export function patchStorages(
  archive: TorchArchive,
  storages: Map<StorageSlot, Uint8Array>,
): Uint8Array {
  if ([...storages.keys()].some((slot) => slot.entry && slot.entry.method !== 0)) {
    const changed = new Map([...storages].map(([slot, bytes]) => [slot.entry, bytes]));
    const entries = archive.entries.map((entry) => ({
      name: entry.name,
      data: changed.get(entry) ?? extractEntry(archive.bytes, entry),
    }));
    return writeStoredZip(entries);
  }
  const output = archive.bytes.slice();
  for (const [slot, bytes] of storages) {
    if (slot.entry) patchStoredEntry(output, slot.entry, bytes);
    else output.set(bytes, slot.offset as number);
  }
  return output;
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
  // Each dict is visited once, so shared references cannot make the search blow up.
  const seen = new Set<PickleDict>();
  const visit = (value: PickleValue, trail: string[]) => {
    if (!(value instanceof PickleDict) || trail.length > 3 || seen.has(value)) return;
    seen.add(value);
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
  slotOf: (key: string) => StorageSlot | undefined,
): StoredTensor[] {
  const tensors: StoredTensor[] = [];
  for (const [name, value] of dict.entries) {
    if (typeof name !== 'string' || !(value instanceof TensorRef)) continue;
    const dtype = storageTypes[value.storage.storageType] as TensorDtype;
    const slot = slotOf(value.storage.key);
    if (!slot) {
      throw new ModelFormatError(
        file,
        `tensor '${name}' refers to storage '${value.storage.key}', which is missing from the file.`,
      );
    }
    const expected = value.storage.numel * dtypeSizes[dtype];
    if (slot.size !== expected) {
      throw new ModelFormatError(
        file,
        `storage '${value.storage.key}' has ${slot.size} bytes but ${value.storage.numel} ${dtype} elements need ${expected}.`,
      );
    }
    checkBounds(file, name, value);
    tensors.push({ name, dtype, shape: value.shape, ref: value, slot });
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
