/**
 * safetensors files: an 8-byte little-endian header length, a JSON header mapping tensor names to
 * `{dtype, shape, data_offsets}` (offsets relative to the data area), then the data.
 * Format: https://github.com/huggingface/safetensors#format
 *
 * The architecture comes from a sidecar file or is inferred from the names (see `state-dict.ts`).
 * Saving keeps the header bytes and patches changed values in place, so every other byte is
 * carried over. A new bias tensor rewrites the header with the new entry after its weight, and
 * its data goes at the end of the data area.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ModelFormatError } from '../errors';
import { writeFileAtomic } from '../io';
import type { Network } from '../model';
import { throwIfCancelled } from '../progress';
import {
  contiguousStrides,
  dtypeSizes,
  encodeValues,
  isFloatDtype,
  isTensorDtype,
  readView,
  writeView,
  type FloatDtype,
  type StridedView,
} from './safetensors-dtypes';
import {
  canAddBiasTensor,
  collectChanges,
  reportingReads,
  type StateDictArchitecture,
  type TensorInfo,
  type TensorSource,
} from './state-dict';
import { resolveArchitecture } from './torch-sidecar';
import type { FileProbe, LoadedModel, ModelFormat, OpenOptions, SaveReport } from './types';

/** The safetensors library's own limit on the header size (100 MB). */
const maxHeaderBytes = 100_000_000;

/** One tensor entry of a validated header. */
export interface SafetensorsEntry extends TensorInfo {
  /** Byte range `[begin, end)` inside the data area. */
  begin: number;
  end: number;
}

/** A validated safetensors header. */
export interface SafetensorsHeader {
  /** Bytes of the length field and the JSON text, as stored. */
  headerBytes: number;
  entries: SafetensorsEntry[];
  /** `__metadata__` as stored (string to string), or null. */
  metadata: Record<string, string> | null;
  /** Keys of the JSON header in stored order, `__metadata__` included. */
  keyOrder: string[];
}

/**
 * Parses and validates a header against the file size before any tensor data is read: known
 * dtypes, shapes × dtype size equal to the byte length, offsets inside the data area, no overlaps.
 */
export function parseHeader(file: string, prefix: Uint8Array, fileSize: number): SafetensorsHeader {
  if (fileSize < 8 || prefix.length < 8) {
    throw new ModelFormatError(file, `is ${fileSize} bytes, too short for a safetensors file.`);
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(fileSize - 8)) {
    throw new ModelFormatError(
      file,
      `invalid safetensors header: its length ${length} exceeds the file size ${fileSize}; the file is truncated or not safetensors.`,
    );
  }
  if (length > BigInt(maxHeaderBytes)) {
    throw new ModelFormatError(
      file,
      `invalid safetensors header: its length ${length} exceeds the 100 MB limit of the format.`,
    );
  }

  const headerLength = Number(length);
  if (prefix.length < 8 + headerLength) {
    throw new RangeError('parseHeader needs the whole header in `prefix`');
  }

  const json = parseJson(file, prefix.subarray(8, 8 + headerLength));
  const dataSize = fileSize - 8 - headerLength;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> | null = null;
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, value);
    } else {
      entries.push(parseEntry(file, name, value, dataSize));
    }
  }
  checkOverlaps(file, entries);
  return { headerBytes: 8 + headerLength, entries, metadata, keyOrder: Object.keys(json) };
}

function parseJson(file: string, bytes: Uint8Array): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ModelFormatError(
      file,
      `invalid safetensors header: not valid UTF-8 JSON (${reason}).`,
    );
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelFormatError(
      file,
      'invalid safetensors header: expected a JSON object of tensors.',
    );
  }
  return json as Record<string, unknown>;
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  const valid =
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((item) => typeof item === 'string');
  if (!valid) {
    throw new ModelFormatError(
      file,
      'invalid safetensors header: "__metadata__" must map strings to strings.',
    );
  }
  return value as Record<string, string>;
}

function parseEntry(
  file: string,
  name: string,
  value: unknown,
  dataSize: number,
): SafetensorsEntry {
  const invalid = (problem: string) =>
    new ModelFormatError(file, `invalid safetensors header: tensor '${name}' ${problem}.`);
  if (value === null || typeof value !== 'object') throw invalid('is not an object');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || !isTensorDtype(dtype)) {
    throw invalid(`has unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((size) => Number.isSafeInteger(size) && size >= 0)) {
    throw invalid(`has invalid shape ${JSON.stringify(shape)}`);
  }
  const validOffsets =
    Array.isArray(offsets) &&
    offsets.length === 2 &&
    offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0) &&
    offsets[0] <= offsets[1];
  if (!validOffsets) throw invalid(`has invalid data_offsets ${JSON.stringify(offsets)}`);
  const [begin, end] = offsets as [number, number];
  if (end > dataSize) {
    throw invalid(`ends at byte ${end}, outside the data area of ${dataSize} bytes`);
  }
  const expected =
    shape.reduce((product: number, size: number) => product * size, 1) * dtypeSizes[dtype];
  if (end - begin !== expected) {
    throw invalid(
      `has ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expected}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function checkOverlaps(file: string, entries: SafetensorsEntry[]): void {
  const sorted = entries
    .filter((entry) => entry.end > entry.begin)
    .sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new ModelFormatError(
        file,
        `invalid safetensors header: tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap in the data area.`,
      );
    }
  }
}

/** Reads the header of a file, validating it before any tensor data is read. */
async function readHeader(file: string): Promise<{ header: SafetensorsHeader; size: number }> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const lengthBytes = new Uint8Array(8);
    await handle.read(lengthBytes, 0, Math.min(8, size), 0);
    const declared = size >= 8 ? new DataView(lengthBytes.buffer).getBigUint64(0, true) : 0n;
    const readable = declared <= BigInt(Math.min(size - 8, maxHeaderBytes)) ? Number(declared) : 0;
    const prefix = new Uint8Array(8 + readable);
    prefix.set(lengthBytes);
    await handle.read(prefix, 8, readable, 8);
    return {
      header: parseHeader(file, size >= 8 ? prefix : lengthBytes.subarray(0, size), size),
      size,
    };
  } finally {
    await handle.close();
  }
}

/** Returns the tensors of a parsed file as a source for the architecture builders. */
function tensorSource(file: string, header: SafetensorsHeader, data: Uint8Array): TensorSource {
  const byName = new Map(header.entries.map((entry) => [entry.name, entry]));
  return {
    tensors: header.entries,
    read(name) {
      const entry = byName.get(name);
      if (!entry) throw new ModelFormatError(file, `tensor '${name}' not found.`);
      return readView(viewOf(file, entry, data));
    },
  };
}

function viewOf(file: string, entry: SafetensorsEntry, data: Uint8Array): StridedView {
  if (!isFloatDtype(entry.dtype)) {
    throw new ModelFormatError(
      file,
      `tensor '${entry.name}' has dtype ${entry.dtype}; only F64, F32, F16 and BF16 weights are read.`,
    );
  }
  return {
    dtype: entry.dtype,
    bytes: data.subarray(entry.begin, entry.end),
    shape: entry.shape,
    strides: contiguousStrides(entry.shape),
    offset: 0,
    littleEndian: true,
  };
}

/** Opens a safetensors model. */
async function openSafetensors(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  throwIfCancelled(options.signal);
  const { header, size } = await readHeader(file);
  // A view of the Buffer, not `new Uint8Array(buffer)`, which would copy the whole file.
  const buffer = await fs.readFile(file);
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  if (bytes.length !== size) {
    throw new ModelFormatError(file, 'changed while it was being read; open it again.');
  }
  const data = bytes.subarray(header.headerBytes);
  const source = tensorSource(file, header, data);
  const architecture = await resolveArchitecture(file, reportingReads(source, options), options);
  const notes = [...architecture.notes];
  return {
    format: 'safetensors',
    path: file,
    network: architecture.network,
    notes,
    canAddBias: (layer) => canAddBiasTensor(architecture, source, layer),
    save: (network, outPath, saveOptions) => {
      throwIfCancelled(saveOptions?.signal);
      return saveSafetensors(file, bytes, header, architecture, source, network, outPath);
    },
  };
}

async function saveSafetensors(
  file: string,
  original: Uint8Array,
  header: SafetensorsHeader,
  architecture: StateDictArchitecture,
  source: TensorSource,
  network: Network,
  outPath: string,
): Promise<SaveReport> {
  const changes = collectChanges(file, architecture, network, source);
  const output = original.slice();
  const data = output.subarray(header.headerBytes);
  for (const [name, values] of changes.updates) {
    const entry = header.entries.find((candidate) => candidate.name === name) as SafetensorsEntry;
    writeView(viewOf(file, entry, data), values);
  }
  const notes: string[] = [];
  let result: Uint8Array = output;
  if (changes.additions.length > 0) {
    const added = changes.additions.map((addition) => {
      const weight = header.entries.find(
        (entry) => entry.name === addition.after,
      ) as SafetensorsEntry;
      const dtype = weight.dtype as FloatDtype;
      notes.push(`Added a bias tensor '${addition.name}' (${dtype}) to layer ${addition.layer}.`);
      return { ...addition, dtype, bytes: encodeValues(addition.values, dtype) };
    });
    result = appendTensors(header, data, added);
  }
  await writeFileAtomic(outPath, result);
  return { files: [path.resolve(outPath)], notes };
}

interface AddedTensor {
  name: string;
  after: string;
  dtype: FloatDtype;
  bytes: Uint8Array;
  values: Float32Array;
}

/**
 * Writes a new header with each added tensor after the one named in `after`, then the old data
 * area unchanged, then the added tensors' data. The header is padded with spaces to a multiple of
 * 8 bytes, as the safetensors library writes it.
 */
function appendTensors(
  header: SafetensorsHeader,
  data: Uint8Array,
  added: AddedTensor[],
): Uint8Array {
  const fields: string[] = [];
  const byName = new Map(header.entries.map((entry) => [entry.name, entry]));
  let end = data.length;
  const placed = added.map((tensor) => {
    const entry = { begin: end, end: end + tensor.bytes.length };
    end = entry.end;
    return { ...tensor, ...entry };
  });
  const describe = (dtype: string, shape: number[], begin: number, stop: number) =>
    JSON.stringify({ dtype, shape, data_offsets: [begin, stop] });
  for (const key of header.keyOrder) {
    if (key === '__metadata__') {
      fields.push(`${JSON.stringify(key)}:${JSON.stringify(header.metadata)}`);
      continue;
    }
    const entry = byName.get(key) as SafetensorsEntry;
    fields.push(
      `${JSON.stringify(key)}:${describe(entry.dtype, entry.shape, entry.begin, entry.end)}`,
    );
    for (const tensor of placed.filter((candidate) => candidate.after === key)) {
      const shape = [tensor.values.length];
      fields.push(
        `${JSON.stringify(tensor.name)}:${describe(tensor.dtype, shape, tensor.begin, tensor.end)}`,
      );
    }
  }
  let json = `{${fields.join(',')}}`;
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const result = new Uint8Array(8 + jsonBytes.length + end);
  new DataView(result.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  result.set(jsonBytes, 8);
  result.set(data, 8 + jsonBytes.length);
  let offset = 8 + jsonBytes.length + data.length;
  for (const tensor of placed) {
    result.set(tensor.bytes, offset);
    offset += tensor.bytes.length;
  }
  return result;
}

/** Returns true when the first bytes look like a safetensors header. */
function matchSafetensors(probe: FileProbe): boolean {
  if (probe.path.toLowerCase().endsWith('.safetensors')) return true;
  const { head, size } = probe;
  if (head.length < 10 || head[8] !== 0x7b) return false;
  const length = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return length >= 2n && length <= BigInt(size - 8);
}

/** safetensors reader and writer. */
export const safetensorsFormat: ModelFormat = {
  id: 'safetensors',
  name: 'safetensors',
  extensions: ['.safetensors'],
  match: matchSafetensors,
  open: openSafetensors,
};
