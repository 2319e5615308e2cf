/**
 * Adds bias tensors to a zip state dict. A new bias needs a new storage and a rewritten pickle, so
 * the archive is written anew. It keeps the same entries in the same order, with a pickle of the
 * state dict that has each bias after its weight and the bias storages after the last storage.
 */
import { PickleDict, StorageRef, TensorRef } from './pickle';
import { encodeValues, type FloatDtype } from './safetensors-dtypes';
import type { StateDictChanges } from './state-dict';
import type { StorageSlot, StoredTensor, TorchArchive } from './torch-archive';
import { pickleStateDict } from './torch-pickler';
import { extractEntry, writeStoredZip } from './torch-zip';

/** Returns the bytes of a new zip archive with `storages` changed and the biases added. */
export function rebuildWithBiases(
  archive: TorchArchive,
  storages: Map<StorageSlot, Uint8Array>,
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
  const changed = new Map([...storages].map(([slot, bytes]) => [slot.entry, bytes]));
  const storageIndices = archive.entries.map((entry, index) =>
    entry.name.startsWith(storagePrefix) ? index : -1,
  );
  const lastStorage = Math.max(...storageIndices);
  const entries = archive.entries.flatMap((entry, index) => {
    const data =
      entry.name === `${archive.prefix}data.pkl`
        ? pickle
        : (changed.get(entry) ?? extractEntry(archive.bytes, entry));
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
