/**
 * Keras HDF5 models: full models saved with `model.save("x.h5")` by Keras 1-3 (the
 * `model_config` attribute plus a `model_weights` group) and weights-only files from
 * `model.save_weights()` whose architecture is in a JSON or YAML file beside them.
 *
 * Layout (Keras `legacy_h5_format`): each layer has a group named after it with a
 * `weight_names` attribute listing its datasets in order, relative to that group.
 * Saving copies the file and overwrites only the changed kernel and bias datasets in place,
 * so every other group, attribute and dataset (optimizer state included) stays as it was.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ModelFormatError } from '../errors';
import { describeWriteError, temporaryPathFor } from '../io';
import type { Network } from '../model';
import { throwIfCancelled, type TaskOptions } from '../progress';
import {
  getDataset,
  getGroup,
  loadH5Wasm,
  openH5,
  overwriteDatasets,
  readFloatDataset,
  readStringAttribute,
  readStringListAttribute,
  type H5Dataset,
  type H5File,
  type H5Group,
  type H5Wasm,
} from './hdf5';
import { parseKerasArchitecture, type KerasLayerSpec } from './keras-config';
import {
  buildKerasNetwork,
  changedDenseWeights,
  type DenseBinding,
  type StoredWeight,
} from './keras-layers';
import { findArchitectureFile, readArchitectureFile } from './keras-sidecar';
import type { FileProbe, LoadedModel, ModelFormat, OpenOptions, SaveReport } from './types';

const hdf5Signature = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Returns true when the HDF5 signature is at offset 0 or after a user block (512, 1024, ...). */
export function hasHdf5Signature(head: Uint8Array): boolean {
  for (let offset = 0; offset + hdf5Signature.length <= head.length; offset = offset ? offset * 2 : 512) {
    if (hdf5Signature.every((byte, i) => head[offset + i] === byte)) return true;
  }
  return false;
}

/** Keras HDF5 (.h5) models and weights-only files. */
export const kerasH5Format: ModelFormat = {
  id: 'keras-h5',
  name: 'Keras HDF5',
  extensions: ['.h5', '.hdf5'],
  match: (probe: FileProbe) => hasHdf5Signature(probe.head),
  open: openKerasH5,
};

interface KerasH5Layout {
  topology: unknown;
  /** Group holding one subgroup per layer. */
  weightsRoot: H5Group;
  notes: string[];
}

async function openKerasH5(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  const h5wasm = await loadH5Wasm();
  const handle = await openH5(file, 'r');
  let built;
  try {
    const layout = await readLayout(h5wasm, handle, file, options);
    const architecture = parseKerasArchitecture(layout.topology, file);
    const weights = new Map<string, StoredWeight<string>[]>();
    for (const spec of architecture.layers) {
      throwIfCancelled(options.signal);
      weights.set(spec.name, await readLayerWeights(h5wasm, layout.weightsRoot, spec, file));
    }
    built = buildKerasNetwork(architecture, (spec) => weights.get(spec.name) ?? [], file);
    built.notes.unshift(...layout.notes);
  } finally {
    handle.close();
  }
  const { network, dense, notes } = built;
  return {
    format: 'keras-h5',
    path: file,
    network,
    notes,
    canAddBias: () => false,
    save: (changed, outPath, saveOptions) => saveKerasH5(file, dense, changed, outPath, saveOptions),
  };
}

async function readLayout(
  h5wasm: H5Wasm,
  handle: H5File,
  file: string,
  options: OpenOptions,
): Promise<KerasH5Layout> {
  const modelConfig = readStringAttribute(handle, 'model_config');
  if (modelConfig !== null) {
    const weightsRoot = getGroup(h5wasm, handle, 'model_weights');
    if (!weightsRoot) {
      throw new ModelFormatError(file, 'has a model_config but no model_weights group; re-save the model with its weights.');
    }
    return { topology: parseJson(modelConfig, file), weightsRoot, notes: [] };
  }
  if (readStringListAttribute(handle, 'layer_names') !== null) {
    const sidecar = await findArchitectureFile(file, options.architecture);
    if (!sidecar) {
      throw new ModelFormatError(
        file,
        'holds weights only (no model_config); put the model.to_json() or to_yaml() output beside it ' +
          `as ${path.basename(file, path.extname(file))}.json or .yaml, or pass its path as the architecture.`,
      );
    }
    const topology = await readArchitectureFile(sidecar);
    return { topology, weightsRoot: handle, notes: [`Architecture read from ${path.basename(sidecar)}.`] };
  }
  if (getGroup(h5wasm, handle, 'layers') || getGroup(h5wasm, handle, '_layer_checkpoint_dependencies')) {
    throw new ModelFormatError(
      file,
      'is a Keras 3 weights file (.weights.h5) without the model architecture; open the .keras model instead.',
    );
  }
  throw new ModelFormatError(file, 'is an HDF5 file without Keras model weights (no model_config or layer_names attribute).');
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError(file, 'has a model_config attribute that is not valid JSON.', { cause: error });
  }
}

/** Reads a layer's datasets in `weight_names` order; an absent group means no weights. */
async function readLayerWeights(
  h5wasm: H5Wasm,
  weightsRoot: H5Group,
  spec: KerasLayerSpec,
  file: string,
): Promise<StoredWeight<string>[]> {
  const group = getGroup(h5wasm, weightsRoot, spec.name);
  if (!group) return [];
  const names = readStringListAttribute(group, 'weight_names') ?? [];
  const weights: StoredWeight<string>[] = [];
  for (const name of names) {
    const dataset = getDataset(h5wasm, group, name);
    if (!dataset) {
      throw new ModelFormatError(file, `layer ${spec.name} lists weight ${name}, but the file has no such dataset.`);
    }
    weights.push(await readWeight(dataset, name, spec, file));
  }
  return weights;
}

/** Reads one dataset; non-float weights of layers PruneLens does not run are kept unread. */
export async function readWeight(
  dataset: H5Dataset,
  name: string,
  spec: KerasLayerSpec,
  file: string,
): Promise<StoredWeight<string>> {
  const mustRead = spec.className === 'Dense' || spec.className === 'BatchNormalization';
  try {
    const { shape, values } = await readFloatDataset(dataset, file);
    return { name, shape, values, ref: dataset.path };
  } catch (error) {
    if (mustRead || !(error instanceof ModelFormatError)) throw error;
    return { name, shape: dataset.shape ?? [], values: new Float32Array(0), ref: dataset.path };
  }
}

/** Copies the file beside `outPath`, overwrites the changed datasets, and renames it into place. */
async function saveKerasH5(
  source: string,
  dense: Map<string, DenseBinding<string>>,
  network: Network,
  outPath: string,
  options: TaskOptions = {},
): Promise<SaveReport> {
  const updates = changedDenseWeights(network, dense, outPath);
  throwIfCancelled(options.signal);
  const temporary = temporaryPathFor(outPath);
  try {
    await fs.copyFile(source, temporary);
    await fs.chmod(temporary, 0o644);
    const changes = updates.map((update) => ({ path: update.weight.ref, values: update.values }));
    await overwriteDatasets(temporary, changes, source);
    await fs.rename(temporary, outPath);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    if (error instanceof ModelFormatError) throw error;
    throw describeWriteError(outPath, error);
  }
  return { files: [outPath], notes: [] };
}
