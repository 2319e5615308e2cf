/**
 * Chooses the TensorFlow.js backend: tfjs-node when it installed, then wasm, then the plain cpu
 * backend. `@tensorflow/tfjs-node` is optional because its install script downloads
 * libtensorflow, which fails on machines without internet access.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The preferred backend. `auto` tries node, wasm and cpu in that order. */
export type BackendPreference = 'auto' | 'node' | 'wasm' | 'cpu';

/** The backend that runs, for logs and reports. */
export interface BackendInfo {
  name: string;
  threads: number;
  simd?: boolean;
  /** Reasons a preferred backend was skipped, one line each. */
  notes: string[];
}

let current: Promise<BackendInfo> | undefined;
let currentPreference: BackendPreference | undefined;

/** Returns the preference the backend was last initialized with, for worker threads. */
export function currentBackendPreference(): BackendPreference {
  return currentPreference ?? 'auto';
}

/** Initializes the backend once per preference and returns what runs. */
export function initBackend(preference: BackendPreference = 'auto'): Promise<BackendInfo> {
  if (!current || currentPreference !== preference) {
    currentPreference = preference;
    current = chooseBackend(preference);
  }
  return current;
}

async function chooseBackend(preference: BackendPreference): Promise<BackendInfo> {
  const notes: string[] = [];
  if (preference === 'auto' || preference === 'node') {
    const info = await tryNode(notes);
    if (info) return info;
  }
  if (preference !== 'cpu') {
    const info = await tryWasm(notes);
    if (info) return info;
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return { name: 'cpu', threads: 1, notes };
}

async function tryNode(notes: string[]): Promise<BackendInfo | undefined> {
  try {
    // A computed name keeps bundlers from following the optional dependency.
    const moduleName = '@tensorflow/tfjs-node';
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional, loaded only when installed
    require(moduleName);
    if (await tf.setBackend('tensorflow')) {
      await tf.ready();
      return { name: 'tensorflow', threads: 0, notes };
    }
    notes.push('tfjs-node loaded but its backend did not initialize.');
  } catch {
    notes.push('@tensorflow/tfjs-node is not installed; using the wasm backend.');
  }
  return undefined;
}

async function tryWasm(notes: string[]): Promise<BackendInfo | undefined> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const folder = findWasmFolder();
    if (!folder) {
      notes.push('the TensorFlow.js wasm binaries were not found; using the cpu backend.');
      return undefined;
    }
    wasm.setWasmPaths(folder.endsWith(path.sep) ? folder : folder + path.sep);
    if (!(await tf.setBackend('wasm'))) {
      notes.push('the wasm backend did not initialize; using the cpu backend.');
      return undefined;
    }
    await tf.ready();
    const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    return { name: 'wasm', threads: wasm.getThreadsCount(), simd, notes };
  } catch (error) {
    notes.push(`the wasm backend failed (${(error as Error).message}); using the cpu backend.`);
    return undefined;
  }
}

/** Finds the folder of the `.wasm` files: beside the bundle, or in the installed package. */
function findWasmFolder(): string | undefined {
  const candidates = [__dirname, path.join(__dirname, '..', 'dist')];
  try {
    candidates.push(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/index.js')));
  } catch {
    // Not installed as a package: only the bundle's own folder can have the binaries.
  }
  return candidates.find((folder) =>
    fs.existsSync(path.join(folder, 'tfjs-backend-wasm-simd.wasm')),
  );
}
