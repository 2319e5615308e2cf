/** What the fuzzer mutates: per reader, the seed files and the entry point that opens them. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { unzipSync } from 'fflate';
import { writeStoredZip } from '../../src/core/formats/torch-zip';
import { corpusPath } from '../helpers/corpus';
import type { HarnessTarget } from './protocol';

/** One seed: a main file to mutate, read together with the other files of its folder. */
export interface Seed {
  /** Absolute path of the seed file. */
  file: string;
  /** Files beside it that the reader needs (sidecars, shards, external data), by name. */
  companions: string[];
}

/** The seeds and entry point of one reader. */
export interface Campaign {
  reader: string;
  target: HarnessTarget;
  seeds: Seed[];
  /**
   * Builds the file to open from the mutated seed bytes, for readers behind a checksum that
   * would reject nearly every raw mutation.
   */
  wrap?: (bytes: Uint8Array) => Uint8Array;
}

const seedDir = path.join(__dirname, 'seeds');

function local(name: string): Seed {
  return { file: path.join(seedDir, name), companions: [] };
}

function corpus(folder: string, name: string, companions: string[] = []): Seed {
  return { file: corpusPath(folder, name), companions: companions.map((file) => corpusPath(folder, file)) };
}

/**
 * Returns a function that puts a pickle in place of `data.pkl` in a copy of the zip `archive`,
 * so that the zip's CRC-32 matches and the mutated pickle reaches the unpickler.
 */
function inTorchZip(archive: string): (bytes: Uint8Array) => Uint8Array {
  const entries = Object.entries(unzipSync(new Uint8Array(fs.readFileSync(archive))));
  return (bytes) =>
    writeStoredZip(entries.map(([name, data]) => ({ name, data: name.endsWith('/data.pkl') ? bytes : data })));
}

/** Every campaign, in the order the fuzzer shares its time among them. */
export const campaigns: Campaign[] = [
  {
    reader: 'hdf5',
    target: 'keras-h5',
    seeds: [
      corpus('keras-h5-boston-housing-regression', 'boston_housing.h5'),
      corpus('keras-h5-iris-mlp', 'iris_model.h5'),
      corpus('keras-h5-weights-only-desharnais-mlp', 'mlp.h5', ['mlp.json']),
    ],
  },
  {
    reader: 'onnx',
    target: 'onnx',
    seeds: [
      local('small-gemm.onnx'),
      corpus('onnx-extdata-sb3-dqn-cartpole', 'model.onnx', ['model.onnx.data']),
      corpus('onnx-tf2onnx-keras-functional-untrained', 'model.onnx'),
    ],
  },
  {
    reader: 'safetensors',
    target: 'safetensors',
    seeds: [local('small.safetensors'), corpus('safetensors-tinygrad-mnist-mlp-nobias', 'model.safetensors')],
  },
  {
    reader: 'pickle',
    target: 'pytorch',
    seeds: [local('small-legacy.pt'), local('small-zip.pt'), local('small-checkpoint.pth')],
  },
  {
    reader: 'pickle-in-zip',
    target: 'pytorch',
    seeds: [
      { file: path.join(seedDir, 'small-state-dict.pkl'), companions: [] },
    ],
    wrap: inTorchZip(path.join(seedDir, 'small-zip.pt')),
  },
  {
    reader: 'pickle-checkpoint-in-zip',
    target: 'pytorch',
    seeds: [{ file: path.join(seedDir, 'small-checkpoint.pkl'), companions: [] }],
    wrap: inTorchZip(path.join(seedDir, 'small-checkpoint.pth')),
  },
  {
    reader: 'idx',
    target: 'data',
    seeds: [local('small-images.idx3-ubyte'), local('small-labels.idx1-ubyte'), local('small-float.idx2')],
  },
  {
    reader: 'npy',
    target: 'data',
    seeds: [local('small-f4.npy'), local('small-f8-fortran.npy'), local('small-i8-be.npy'), local('small-u1.npy')],
  },
  {
    reader: 'keras-zip',
    target: 'keras',
    seeds: [corpus('keras3-iris-mlp', 'iris_model.keras')],
  },
  {
    reader: 'tfjs',
    target: 'tfjs-layers',
    seeds: [corpus('tfjs-layers-ml5-muse-eeg', 'model.json', ['model.weights.bin', 'model_meta.json'])],
  },
];
