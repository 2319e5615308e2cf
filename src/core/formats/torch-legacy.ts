/**
 * Legacy (non-zip) `torch.save` files, written by PyTorch before 1.6 and by
 * `torch.save(..., _use_new_zipfile_serialization=False)`. They are five pickles in a row (a magic
 * number, the protocol version 1001, system information, the object, and the sorted list of
 * storage keys), then each listed storage as an int64 element count and its raw bytes.
 * Layout reference: `_legacy_save` and `_legacy_load` in PyTorch's `torch/serialization.py`.
 */
import {
  PickleDict,
  PickleError,
  PickleTuple,
  StorageRef,
  storageTypes,
  TensorRef,
  unpickleAt,
  type PickleValue,
} from './pickle';
import { dtypeSizes, type TensorDtype } from './safetensors-dtypes';

/** The magic number a legacy file pickles first. */
const legacyMagicNumber = 0x1950a86a20f9469cfc6cn;

/** The only legacy protocol version PyTorch has written. */
const legacyProtocolVersion = 1001;

/** Raised for a legacy file whose layout is invalid; the message is one line. */
export class LegacyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LegacyFormatError';
  }
}

/** Byte range of one storage's data in a legacy file. */
export interface LegacyStorage {
  offset: number;
  size: number;
}

/** The parts of a legacy file: the object, the byte order and where each storage's data is. */
export interface LegacyContainer {
  root: PickleValue;
  littleEndian: boolean;
  storages: Map<string, LegacyStorage>;
}

/** Returns true when the bytes start with the pickled magic number of a legacy file. */
export function isLegacyTorchFile(head: Uint8Array): boolean {
  const magic = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  return head[0] === 0x80 && magic.every((byte, i) => head[2 + i] === byte);
}

/**
 * Parses a legacy file and locates every storage, checking sizes against the file length. A pickle
 * that is cut short or malformed becomes a LegacyFormatError. A pickle the restricted unpickler
 * rejects stays a PickleError, so its message names what was rejected.
 */
export function readLegacyContainer(bytes: Uint8Array): LegacyContainer {
  try {
    return parseLegacy(bytes);
  } catch (error) {
    if (error instanceof PickleError && !error.message.startsWith('refused')) {
      throw new LegacyFormatError(error.message);
    }
    throw error;
  }
}

function parseLegacy(bytes: Uint8Array): LegacyContainer {
  const magic = unpickleAt(bytes, 0);
  if (magic.value !== legacyMagicNumber) throw new LegacyFormatError('invalid magic number');
  const version = unpickleAt(bytes, magic.end);
  if (version.value !== legacyProtocolVersion) {
    throw new LegacyFormatError(`unsupported protocol version ${String(version.value)}`);
  }
  const systemInfo = unpickleAt(bytes, version.end);
  const littleEndian = readLittleEndian(systemInfo.value);
  const root = unpickleAt(bytes, systemInfo.end);
  const keys = unpickleAt(bytes, root.end);
  if (!Array.isArray(keys.value) || !keys.value.every((key) => typeof key === 'string')) {
    throw new LegacyFormatError('the storage key list is not a list of strings');
  }

  const references = collectStorages(root.value);
  const storages = new Map<string, LegacyStorage>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const reference = references.get(key);
    if (!reference) throw new LegacyFormatError(`storage '${key}' is listed but never used`);
    if (at + 8 > bytes.length) throw new LegacyFormatError(`storage '${key}' is truncated`);
    const count = Number(view.getBigInt64(at, littleEndian));
    if (count !== reference.numel) {
      throw new LegacyFormatError(
        `storage '${key}' has ${count} elements but its tensors expect ${reference.numel}`,
      );
    }
    const size = count * dtypeSizes[storageTypes[reference.storageType] as TensorDtype];
    if (at + 8 + size > bytes.length) throw new LegacyFormatError(`storage '${key}' is truncated`);
    storages.set(key, { offset: at + 8, size });
    at += 8 + size;
  }
  return { root: root.value, littleEndian, storages };
}

function readLittleEndian(systemInfo: PickleValue): boolean {
  if (!(systemInfo instanceof PickleDict)) {
    throw new LegacyFormatError('the system information is not a dict');
  }
  const flag = systemInfo.entries.get('little_endian');
  return flag === undefined ? true : flag === true;
}

/** Returns every storage the object refers to, by key. */
function collectStorages(root: PickleValue): Map<string, StorageRef> {
  const found = new Map<string, StorageRef>();
  const pending: PickleValue[] = [root];
  const seen = new Set<object>();
  while (pending.length > 0) {
    const value = pending.pop();
    if (value === null || typeof value !== 'object' || seen.has(value)) continue;
    seen.add(value);
    if (value instanceof StorageRef) found.set(value.key, value);
    else if (value instanceof TensorRef) pending.push(value.storage);
    else if (value instanceof PickleTuple) pending.push(...value.items);
    else if (Array.isArray(value)) pending.push(...value);
    else if (value instanceof PickleDict) {
      pending.push(...value.entries.values(), ...value.attributes.values());
    }
  }
  return found;
}
