/** Picks the reader for a model file and opens it. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { specialFileKind } from '../io';
import { CancelledError, ModelFormatError, PruneLensError } from '../errors';
import { kerasH5Format } from './keras-h5';
import { kerasZipFormat } from './keras-zip';
import { onnxFormat } from './onnx';
import { pytorchFormat } from './pytorch';
import { safetensorsFormat } from './safetensors';
import { checkModelSize } from './size';
import { tfjsFormat } from './tfjs';
import type { FileProbe, LoadedModel, ModelFormat, OpenOptions } from './types';

/** Every format reader, in the order their `match` is tried. */
export const formats: readonly ModelFormat[] = [
  kerasH5Format,
  kerasZipFormat,
  tfjsFormat,
  onnxFormat,
  safetensorsFormat,
  pytorchFormat,
];

const probeBytes = 64 * 1024;

/** Reads the first bytes of a file for the readers' `match`. */
export async function probeFile(file: string): Promise<FileProbe> {
  const special = await specialFileKind(file);
  if (special) throw new ModelFormatError(file, `is a ${special}, not a model file.`);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelFormatError(file, 'file not found.');
    if (code === 'EISDIR') throw new ModelFormatError(file, 'is a folder; choose the model file inside it.');
    throw new ModelFormatError(file, `cannot be read (${code ?? String(error)}).`);
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new ModelFormatError(file, 'is a folder; choose the model file inside it.');
    const head = new Uint8Array(Math.min(probeBytes, stat.size));
    await handle.read(head, 0, head.length, 0);
    return { path: file, size: stat.size, head };
  } finally {
    await handle.close();
  }
}

/** Returns the reader for a file, or throws a one-line error naming what the file seems to be. */
export async function detectFormat(file: string): Promise<ModelFormat> {
  const probe = await probeFile(file);
  const format = formats.find((candidate) => candidate.match(probe));
  if (format) return format;
  throw new ModelFormatError(file, describeUnknown(probe));
}

/** Opens a model file with the reader that matches it, unless it is larger than `options.maxBytes`. */
export async function openModel(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  const format = await detectFormat(file);
  await checkModelSize(file, options.maxBytes, options.architecture);
  try {
    return await format.open(path.resolve(file), options);
  } catch (error) {
    throw namedError(file, error);
  }
}

/**
 * Returns PruneLens's own errors as they are, and gives any other error from a reader (a
 * RangeError for an absurd declared size, a stack overflow on absurd nesting) the file's name.
 */
function namedError(file: string, error: unknown): unknown {
  if (error instanceof PruneLensError || error instanceof CancelledError) return error;
  const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new ModelFormatError(file, `cannot be read (${reason}); the file is damaged or not a model PruneLens supports.`, {
    cause: error,
  });
}

function describeUnknown(probe: FileProbe): string {
  const { head, size } = probe;
  if (size === 0) return 'is empty, not a model.';
  const startsWith = (...bytes: number[]) => bytes.every((byte, i) => head[i] === byte);
  const name = path.basename(probe.path).toLowerCase();
  if (startsWith(0x89, 0x50, 0x4e, 0x47)) return 'is a PNG image, not a model.';
  if (startsWith(0xff, 0xd8, 0xff)) return 'is a JPEG image, not a model.';
  if (startsWith(0x25, 0x50, 0x44, 0x46)) return 'is a PDF document, not a model.';
  if (startsWith(0x1f, 0x8b)) return 'is a gzip file, not a model; if it holds data, pass it with --data.';
  if (startsWith(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59)) return 'is a NumPy .npy array, not a model; pass it with --data.';
  if (head.length >= 4 && head[0] === 0 && head[1] === 0 && head[2] >= 0x08 && head[2] <= 0x0e && head[3] >= 1 && head[3] <= 4) {
    return 'is an IDX data file (MNIST format), not a model; pass it with --data.';
  }
  if (startsWith(0x50, 0x4b, 0x03, 0x04)) {
    return 'is a zip file that is neither a Keras 3 .keras model nor a PyTorch state dict.';
  }
  if (startsWith(0x89, 0x48, 0x44, 0x46)) return 'is an HDF5 file without Keras model weights.';
  if (/\.onnx\.data$|\.data$/.test(name)) return "looks like an ONNX external-data file; open the .onnx model beside it.";
  if (/shard\d+of\d+(\.bin)?$|\.weights\.bin$/.test(name)) return 'is a TensorFlow.js weight shard; open the model.json beside it.';
  if (/\.ya?ml$/.test(name)) return 'is a YAML file, not a model; a Keras architecture file goes with --architecture beside its .h5.';
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head.subarray(0, 512));
  if (isText(head) && /^\s*[[{]/.test(text)) {
    return 'is a JSON file but not a TensorFlow.js layers model (no "modelTopology" and "weightsManifest"); a Keras architecture file goes with --architecture beside its .h5.';
  }
  if (isText(head) && /^[^\n]*,[^\n]*\n/.test(text)) return 'is a CSV file, not a model; pass it with --data instead.';
  const known = formats.flatMap((format) => format.extensions).filter((extension) => extension !== path.extname(name)).join(', ');
  return `is not a model file PruneLens can read (supported: ${known}).`;
}

/** Returns true when the first bytes contain no control characters other than white space. */
function isText(head: Uint8Array): boolean {
  const sample = head.subarray(0, 512);
  return sample.every((byte) => byte >= 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d);
}
