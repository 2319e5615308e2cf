/**
 * PyTorch state dicts saved by `torch.save` (`.pt`, `.pth`, `.save`, ...), in the zip format or
 * the legacy format (see `torch-archive.ts`). The pickle is read by a restricted unpickler that
 * never runs code.
 *
 * A checkpoint that nests the state dict under a key (`model_state_dict`, `state_dict`, ...) next
 * to other objects is read from that key, and the other objects are carried over unchanged.
 * Saving copies the file and patches the changed storages in place (same dtype, same size), with
 * their CRC-32 updated in zip files, so every other byte stays identical.
 *
 * A new bias tensor is added only to a little-endian zip file whose pickle is the state dict
 * itself (see `torch-rebuild.ts`). Limitation: in a nested checkpoint, a legacy file or a
 * big-endian file `canAddBias` is false, so such layers are pruned without compensation. In a
 * checkpoint, the optimizer state would no longer match the parameters, and re-pickling the other
 * objects could change them (a float 1.0 would come back as an int).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ModelFormatError } from '../errors';
import { writeFileAtomic } from '../io';
import type { Network } from '../model';
import { throwIfCancelled } from '../progress';
import { PickleError } from './pickle';
import { dtypeSizes, isFloatDtype, readView, writeView, type StridedView } from './safetensors-dtypes';
import {
  canAddBiasTensor,
  collectChanges,
  reportingReads,
  type StateDictArchitecture,
  type TensorSource,
} from './state-dict';
import {
  isZip,
  patchStorages,
  readArchive,
  readStorage,
  type StorageSlot,
  type StoredTensor,
  type TorchArchive,
} from './torch-archive';
import { isLegacyTorchFile, LegacyFormatError } from './torch-legacy';
import { rebuildWithBiases } from './torch-rebuild';
import { resolveArchitecture } from './torch-sidecar';
import { ZipError } from './torch-zip';
import type { FileProbe, LoadedModel, ModelFormat, OpenOptions, SaveReport } from './types';

const torchExtensions = ['.pt', '.pth', '.save', '.ckpt', '.bin'];

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
  // A view with more elements than its storage reuses them (stride 0, as expand() makes): a
  // file of kilobytes could then declare gigabytes of weights.
  const count = shape.reduce((product, size) => product * size, 1);
  const stored = Math.floor(bytes.length / dtypeSizes[tensor.dtype]);
  if (count > stored) {
    throw new ModelFormatError(
      file,
      `tensor '${tensor.name}' has ${count} elements but its storage holds ${stored}; ` +
        'overlapping views (stride 0) are not read. Save the model with .contiguous() tensors.',
    );
  }
  return { dtype: tensor.dtype, bytes, shape, strides, offset, littleEndian };
}

function tensorSource(file: string, archive: TorchArchive): TensorSource {
  const byName = new Map(archive.tensors.map((tensor) => [tensor.name, tensor]));
  const storages = new Map<StorageSlot, Uint8Array>();
  const storageBytes = (tensor: StoredTensor) => {
    let bytes = storages.get(tensor.slot);
    if (!bytes) {
      bytes = readStorage(archive, tensor.slot);
      storages.set(tensor.slot, bytes);
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

/** Turns the zip, legacy and pickle readers' errors into one-line errors that name the file. */
function asFormatError(file: string, error: unknown): unknown {
  if (error instanceof PickleError) {
    return new ModelFormatError(file, `${error.message}.`, { cause: error });
  }
  if (error instanceof ZipError) {
    return new ModelFormatError(file, `invalid zip archive: ${error.message}.`, { cause: error });
  }
  if (error instanceof LegacyFormatError) {
    const fix = 'it may be truncated; re-save it with torch.save';
    return new ModelFormatError(file, `invalid legacy torch.save file: ${error.message}; ${fix}.`, {
      cause: error,
    });
  }
  return error;
}

/** Returns true when a new bias can be stored: a little-endian zip file of a plain state dict. */
function canRebuild(archive: TorchArchive): boolean {
  return archive.kind === 'zip' && archive.stateDictPath.length === 0 && archive.littleEndian;
}

/** Opens a PyTorch state dict. */
async function openPytorch(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  throwIfCancelled(options.signal);
  // A view of the Buffer, not `new Uint8Array(buffer)`, which would copy the whole file.
  const buffer = await fs.readFile(file);
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let archive: TorchArchive;
  let architecture: StateDictArchitecture;
  let source: TensorSource;
  try {
    archive = readArchive(file, bytes);
    source = tensorSource(file, archive);
    architecture = await resolveArchitecture(file, reportingReads(source, options), options);
  } catch (error) {
    throw asFormatError(file, error);
  }
  const notes = [...architecture.notes];
  if (archive.stateDictPath.length > 0) {
    notes.push(
      `Read the state dict under '${archive.stateDictPath.join('.')}'; the checkpoint's other entries are carried over unchanged.`,
    );
  }
  if (archive.kind === 'legacy') {
    notes.push('Legacy (non-zip) torch.save file: the pruned copy keeps that format.');
  }
  return {
    format: 'pytorch',
    path: file,
    network: architecture.network,
    notes,
    canAddBias: (layer) => canRebuild(archive) && canAddBiasTensor(architecture, source, layer),
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
  if (changes.additions.length > 0 && !canRebuild(archive)) {
    const layers = changes.additions.map((addition) => addition.layer).join(', ');
    throw new ModelFormatError(
      file,
      `cannot add a bias to layer ${layers}: biases are added only to a plain little-endian zip state dict, not inside a checkpoint or a legacy file; prune that layer without compensation.`,
    );
  }
  const storages = new Map<StorageSlot, Uint8Array>();
  for (const [name, values] of changes.updates) {
    const tensor = archive.tensors.find((candidate) => candidate.name === name) as StoredTensor;
    let bytes = storages.get(tensor.slot);
    if (!bytes) {
      bytes = readStorage(archive, tensor.slot).slice();
      storages.set(tensor.slot, bytes);
    }
    writeView(viewOf(file, tensor, bytes, archive.littleEndian), values);
  }
  const notes: string[] = [];
  let output: Uint8Array;
  try {
    output =
      changes.additions.length > 0
        ? rebuildWithBiases(archive, storages, changes.additions, notes)
        : patchStorages(archive, storages);
  } catch (error) {
    throw asFormatError(file, error);
  }
  await writeFileAtomic(outPath, output);
  return { files: [path.resolve(outPath)], notes };
}

/** Returns true for a torch.save zip archive or legacy file. */
function matchPytorch(probe: FileProbe): boolean {
  const { head } = probe;
  const extension = path.extname(probe.path).toLowerCase();
  if (isLegacyTorchFile(head)) return true;
  if (!isZip(head)) return false;
  if (torchExtensions.includes(extension)) return true;
  const nameLength = head.length >= 30 ? head[26] | (head[27] << 8) : 0;
  const firstName = new TextDecoder().decode(head.subarray(30, 30 + nameLength));
  return /^([^/]+\/)?data\.pkl$/.test(firstName);
}

/** PyTorch state dict reader and writer. */
export const pytorchFormat: ModelFormat = {
  id: 'pytorch',
  name: 'PyTorch state dict',
  extensions: torchExtensions,
  match: matchPytorch,
  open: openPytorch,
};
