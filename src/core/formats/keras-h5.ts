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
import { describeWriteError, settleTemporary, temporaryPathFor } from '../io';
import type { Network } from '../model';
import { throwIfCancelled, type TaskOptions } from '../progress';
import {
  closeAfterReading,
  createVectorDataset,
  damagedHdf5Error,
  editH5File,
  getDataset,
  getGroup,
  loadH5Wasm,
  openH5,
  outsideError,
  overwriteDataset,
  readFloatDataset,
  readStringAttribute,
  readStringListAttribute,
  replaceStringAttribute,
  type FloatDtype,
  type H5Dataset,
  type H5File,
  type H5Group,
  type H5Wasm,
} from './hdf5';
import { takeRejectedFile } from './hdf5-runtime';
import { parseKerasArchitecture, type KerasLayerSpec } from './keras-config';
import {
  biasNameFor,
  buildKerasNetwork,
  changedDenseWeights,
  enableBias,
  sameBits,
  type DenseBinding,
  type DenseChanges,
  type NewBias,
  type StoredWeight,
} from './keras-layers';
import { transposeInto } from './float-matrix';
import { findArchitectureFile, readArchitectureFile } from './keras-sidecar';
import type { FileProbe, LoadedModel, ModelFormat, OpenOptions, SaveReport } from './types';

/** A weight's dataset path and element type (null for non-float weights, which are never written). */
export interface H5Ref {
  path: string;
  dtype: FloatDtype | null;
}

const hdf5Signature = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Returns true when the HDF5 signature is at offset 0 or after a user block (512, 1024, ...). */
export function hasHdf5Signature(head: Uint8Array): boolean {
  for (
    let offset = 0;
    offset + hdf5Signature.length <= head.length;
    offset = offset ? offset * 2 : 512
  ) {
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
  /** True when the file stores the architecture (`model_config`), so a save can change it. */
  hasConfig: boolean;
  notes: string[];
}

async function openKerasH5(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  const h5wasm = await loadH5Wasm();
  const handle = await openH5(file, 'r');
  let built;
  let hasConfig = false;
  try {
    const layout = await readLayout(h5wasm, handle, file, options);
    hasConfig = layout.hasConfig;
    const architecture = parseKerasArchitecture(layout.topology, file);
    const weights = new Map<string, StoredWeight<H5Ref>[]>();
    for (const [index, spec] of architecture.layers.entries()) {
      throwIfCancelled(options.signal);
      options.onProgress?.({
        fraction: index / architecture.layers.length,
        message: `Reading ${spec.name}`,
      });
      weights.set(spec.name, await readLayerWeights(h5wasm, layout.weightsRoot, spec, file));
    }
    built = buildKerasNetwork(architecture, (spec) => weights.get(spec.name) ?? [], file);
    built.notes.unshift(...layout.notes);
  } catch (error) {
    throw damagedHdf5Error(file, error);
  } finally {
    closeAfterReading(handle);
  }
  const { network, dense, notes } = built;
  // Weights-only files keep the architecture in another file, which a save does not rewrite.
  // h5wasm 0.10 cannot create float16 datasets, so float16 kernels get no new bias either.
  const canAddBias = (layerName: string) =>
    hasConfig && isFloatKernel(dense.get(layerName), ['float32', 'float64']);
  return {
    format: 'keras-h5',
    path: file,
    network,
    notes,
    canAddBias,
    save: (changed, outPath, saveOptions) =>
      saveKerasH5({ source: file, dense, canAddBias }, changed, outPath, saveOptions),
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
      throw new ModelFormatError(
        file,
        'has a model_config but no model_weights group; re-save the model with its weights.',
      );
    }
    return { topology: parseJson(modelConfig, file), weightsRoot, hasConfig: true, notes: [] };
  }
  if (readStringListAttribute(handle, 'layer_names') !== null) {
    const sidecar = await findArchitectureFile(file, options.architecture);
    if (!sidecar) {
      throw new ModelFormatError(
        file,
        'holds weights only (no model_config); put the model.to_json() or to_yaml() output beside it ' +
          `as ${path.basename(file, path.extname(file))}.json or .yaml, or pass its path with --architecture FILE.`,
      );
    }
    const topology = await readArchitectureFile(sidecar);
    const notes = [`Architecture read from ${path.basename(sidecar)}.`];
    return { topology, weightsRoot: handle, hasConfig: false, notes };
  }
  if (
    getGroup(h5wasm, handle, 'layers') ||
    getGroup(h5wasm, handle, '_layer_checkpoint_dependencies')
  ) {
    throw new ModelFormatError(
      file,
      'is a Keras 3 weights file (.weights.h5) without the model architecture; open the .keras model instead.',
    );
  }
  throw new ModelFormatError(
    file,
    'is an HDF5 file without Keras model weights (no model_config or layer_names attribute).',
  );
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError(file, 'has a model_config attribute that is not valid JSON.', {
      cause: error,
    });
  }
}

/** Reads a layer's datasets in `weight_names` order; an absent group means no weights. */
async function readLayerWeights(
  h5wasm: H5Wasm,
  weightsRoot: H5Group,
  spec: KerasLayerSpec,
  file: string,
): Promise<StoredWeight<H5Ref>[]> {
  const group = getGroup(h5wasm, weightsRoot, spec.name);
  if (!group) return [];
  const names = readStringListAttribute(group, 'weight_names') ?? [];
  const weights: StoredWeight<H5Ref>[] = [];
  for (const name of names) {
    const dataset = getDataset(h5wasm, group, name);
    if (!dataset) {
      // An external link to another file is not followed, so its dataset is missing here.
      const rejected = takeRejectedFile();
      if (rejected) throw outsideError(file, rejected, null);
      throw new ModelFormatError(
        file,
        `layer ${spec.name} lists weight ${name}, but the file has no such dataset.`,
      );
    }
    const isKernel = spec.className === 'Dense' && weights.length === 0;
    weights.push(await readWeight(dataset, name, spec, file, isKernel));
  }
  return weights;
}

/**
 * Reads one dataset. Non-float weights of layers PruneLens does not run are kept unread. A 2-D
 * Dense kernel (`isKernel`) is read transposed to `[units, inputs]`, the layout the layer keeps.
 */
export async function readWeight(
  dataset: H5Dataset,
  name: string,
  spec: KerasLayerSpec,
  file: string,
  isKernel = false,
): Promise<StoredWeight<H5Ref>> {
  const mustRead = spec.className === 'Dense' || spec.className === 'BatchNormalization';
  try {
    const unitsFirst = isKernel && dataset.metadata.shape?.length === 2;
    const { shape, values, dtype } = await readFloatDataset(dataset, file, unitsFirst);
    return { name, shape, values, ref: { path: dataset.path, dtype }, unitsFirst };
  } catch (error) {
    if (mustRead || !(error instanceof ModelFormatError)) throw error;
    const ref = { path: dataset.path, dtype: null };
    return { name, shape: dataset.shape ?? [], values: new Float32Array(0), ref };
  }
}

/** Returns true when a dense layer exists and its kernel has one of the given element types. */
export function isFloatKernel(
  binding: DenseBinding<H5Ref> | undefined,
  dtypes: FloatDtype[],
): boolean {
  const dtype = binding?.kernel.ref.dtype;
  return dtype !== undefined && dtype !== null && dtypes.includes(dtype);
}

/**
 * Writes changed kernels and biases into an open file. A kernel read as `[units, inputs]` kept no
 * stored copy, so it is compared with the file's dataset first and written only when it differs.
 */
export async function writeUpdates(
  h5wasm: H5Wasm,
  handle: H5File,
  changes: DenseChanges<H5Ref>,
  shownAs: string,
): Promise<void> {
  for (const update of changes.updates) {
    const datasetPath = update.weight.ref.path;
    const values = update.weight.unitsFirst
      ? await changedKernel(getDataset(h5wasm, handle, datasetPath), update.values, shownAs)
      : update.values;
    if (values) await overwriteDataset(h5wasm, handle, datasetPath, values, shownAs);
  }
}

/**
 * Compares a `[units, inputs]` kernel with its dataset and returns it in the stored layout, in
 * the array read for the comparison, or null when it did not change.
 */
async function changedKernel(
  dataset: H5Dataset | null,
  kernel: Float32Array,
  shownAs: string,
): Promise<Float32Array | null> {
  // A missing dataset is reported by the write.
  if (!dataset) return kernel;
  const stored = await readFloatDataset(dataset, shownAs, true);
  if (sameBits(stored.values, kernel)) return null;
  const [inputs, units] = stored.shape;
  transposeInto(kernel, units, inputs, stored.values);
  return stored.values;
}

interface H5SaveSource {
  source: string;
  dense: Map<string, DenseBinding<H5Ref>>;
  canAddBias: (layerName: string) => boolean;
}

/** Copies the file beside `outPath`, writes the changes into the copy, and renames it into place. */
async function saveKerasH5(
  { source, dense, canAddBias }: H5SaveSource,
  network: Network,
  outPath: string,
  options: TaskOptions = {},
): Promise<SaveReport> {
  const changes = changedDenseWeights(network, dense, outPath, canAddBias);
  throwIfCancelled(options.signal);
  const temporary = temporaryPathFor(outPath);
  try {
    await fs.copyFile(source, temporary);
    await fs.chmod(temporary, 0o644);
    await editH5File(temporary, source, async (h5wasm, handle) => {
      await writeUpdates(h5wasm, handle, changes, source);
      if (changes.newBiases.length > 0) addLegacyBiases(h5wasm, handle, changes.newBiases, source);
    });
    await fs.rename(temporary, outPath);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    if (error instanceof ModelFormatError) throw error;
    throw describeWriteError(outPath, error);
  } finally {
    settleTemporary(temporary);
  }
  const notes = changes.newBiases.map(
    (bias) =>
      `Added a bias to Dense layer ${bias.layerName}, which had use_bias false; ` +
      'the optimizer state saved in the file no longer matches the model.',
  );
  return { files: [outPath], notes };
}

/**
 * Adds bias datasets beside their kernels, lists them in each layer's `weight_names` after the
 * kernel, and sets `use_bias: true` in `model_config`, which is how Keras's h5 loader finds them.
 */
function addLegacyBiases(
  h5wasm: H5Wasm,
  handle: H5File,
  biases: NewBias<H5Ref>[],
  shownAs: string,
): void {
  for (const { kernel, values } of biases) {
    const layerPath = kernel.ref.path.slice(0, -(kernel.name.length + 1));
    const biasName = biasNameFor(kernel.name);
    const dtype = kernel.ref.dtype === 'float64' ? 'float64' : 'float32';
    createVectorDataset(h5wasm, handle, `${layerPath}/${biasName}`, values, dtype, shownAs);
    const group = getGroup(h5wasm, handle, layerPath)!;
    const names = readStringListAttribute(group, 'weight_names') ?? [];
    names.splice(names.indexOf(kernel.name) + 1, 0, biasName);
    replaceStringAttribute(group, 'weight_names', names);
  }
  const config = parseJson(readStringAttribute(handle, 'model_config') ?? '', shownAs);
  enableBias(config, new Set(biases.map((bias) => bias.layerName)));
  replaceStringAttribute(handle, 'model_config', JSON.stringify(config));
}
