/**
 * Values of ONNX TensorProtos (float32, float16, float64 and the integer types used for shapes),
 * stored in `raw_data`, in the typed fields or in an external data file
 * (https://onnx.ai/onnx/repo-docs/ExternalData.html), and the bytes to store changed values.
 */
import * as fs from 'node:fs/promises';
import { getFloat16, setFloat16 } from '@petamoriken/float16';
import { onnx } from 'onnx-proto';
import { ModelFormatError, PruneLensError } from '../errors';
import { resolveInside } from '../io';
import { shapeSize } from '../model';
import {
  decodeRows,
  matrixTarget,
  rowsPerBlock,
  type FloatWidth,
  type MatrixTarget,
} from './float-matrix';
import {
  bytesField,
  concatBytes,
  encodeBytesField,
  encodeStringField,
  encodeVarintField,
  type FieldSpan,
  lengthDelimited,
  payloadOf,
  replacedParts,
  replaceFields,
} from './onnx-wire';

/** ONNX `TensorProto.DataType` codes this reader handles. */
export const DataType = { float: 1, int32: 6, int64: 7, float16: 10, double: 11 } as const;

/** Field numbers of `TensorProto` (onnx.proto). */
const TensorField = {
  dims: 1,
  floatData: 4,
  int32Data: 5,
  int64Data: 7,
  rawData: 9,
  doubleData: 10,
  externalData: 13,
} as const;

const bytesPerElement: Record<number, number> = { 1: 4, 6: 4, 7: 8, 10: 2, 11: 8 };

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** An ONNX int64 as decoded by protobufjs: a number, or a Long when the `long` package is present. */
export type Int64 = number | { toNumber(): number };

/** Converts a decoded int64 to a number. */
export function toNumber(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** The model file and its folder, against which external data paths are resolved. */
export interface TensorContext {
  modelFile: string;
  folder: string;
}

/** Location of an external tensor's bytes, checked against the data file. */
export interface ExternalLocation {
  /** The `location` entry as written in the model. */
  location: string;
  /** The resolved path inside the model's folder. */
  file: string;
  offset: number;
  length: number;
}

/** Returns the name of a data type code, such as "FLOAT16". */
export function dataTypeName(code: number): string {
  return onnx.TensorProto.DataType[code] ?? `type ${code}`;
}

/** Returns true for the floating-point types a dense kernel may have. */
export function isFloatType(code: number): boolean {
  return code === DataType.float || code === DataType.float16 || code === DataType.double;
}

/** Returns the dimensions of a tensor as numbers. */
export function tensorDims(tensor: onnx.ITensorProto): number[] {
  return (tensor.dims ?? []).map((dim) => toNumber(dim));
}

/** Returns true when the tensor's values are in an external file. */
export function isExternal(tensor: onnx.ITensorProto): boolean {
  return tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

function tensorError(
  ctx: TensorContext,
  tensor: onnx.ITensorProto,
  message: string,
): ModelFormatError {
  return new ModelFormatError(ctx.modelFile, `tensor '${tensor.name ?? ''}' ${message}`);
}

function expectedBytes(ctx: TensorContext, tensor: onnx.ITensorProto): number {
  const size = bytesPerElement[tensor.dataType ?? 0];
  if (size === undefined) {
    throw tensorError(
      ctx,
      tensor,
      `has data type ${dataTypeName(tensor.dataType ?? 0)}, which PruneLens cannot read.`,
    );
  }
  return shapeSize(tensorDims(tensor)) * size;
}

/**
 * Checks an external tensor's `location`, `offset` and `length` against the data file and
 * returns where its bytes are. Paths are confined to the model's folder.
 */
export async function resolveExternal(
  ctx: TensorContext,
  tensor: onnx.ITensorProto,
): Promise<ExternalLocation> {
  const entries = new Map(
    (tensor.externalData ?? []).map((entry) => [entry.key ?? '', entry.value ?? '']),
  );
  const location = entries.get('location');
  if (!location)
    throw tensorError(ctx, tensor, 'is marked as external data but has no location entry.');
  const file = await resolveConfined(ctx, location);
  const offset = parseCount(ctx, tensor, 'offset', entries.get('offset') ?? '0');
  const expected = expectedBytes(ctx, tensor);
  const length = parseCount(ctx, tensor, 'length', entries.get('length') ?? String(expected));
  if (length !== expected) {
    throw tensorError(
      ctx,
      tensor,
      `has external length ${length} bytes but its dims [${tensorDims(tensor)}] need ${expected}; the model and its data file do not match.`,
    );
  }
  const stat = await fs.stat(file);
  if (offset + length > stat.size) {
    throw tensorError(
      ctx,
      tensor,
      `needs bytes ${offset}..${offset + length} of '${location}', which has only ${stat.size}; the data file is truncated or belongs to another model.`,
    );
  }
  return { location, file, offset, length };
}

async function resolveConfined(ctx: TensorContext, location: string): Promise<string> {
  try {
    return await resolveInside(ctx.modelFile, ctx.folder, location);
  } catch (error) {
    if (!(error instanceof PruneLensError)) throw error;
    const prefix = `${ctx.modelFile}: `;
    const message = error.message.startsWith(prefix)
      ? error.message.slice(prefix.length)
      : error.message;
    throw new ModelFormatError(ctx.modelFile, `external data: ${message}`, { cause: error });
  }
}

function parseCount(
  ctx: TensorContext,
  tensor: onnx.ITensorProto,
  key: string,
  text: string,
): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw tensorError(
      ctx,
      tensor,
      `has external ${key} ${JSON.stringify(text)}, which is not a byte count.`,
    );
  }
  return value;
}

/** Reads the stored little-endian bytes of a tensor kept in `raw_data` or in an external file. */
export async function readStoredBytes(
  ctx: TensorContext,
  tensor: onnx.ITensorProto,
): Promise<Uint8Array> {
  if (!isExternal(tensor)) return tensor.rawData ?? new Uint8Array();
  const where = await resolveExternal(ctx, tensor);
  const handle = await fs.open(where.file, 'r');
  try {
    const bytes = new Uint8Array(where.length);
    const { bytesRead } = await handle.read(bytes, 0, where.length, where.offset);
    if (bytesRead !== where.length)
      throw tensorError(ctx, tensor, `could not be read in full from '${where.location}'.`);
    return bytes;
  } finally {
    await handle.close();
  }
}

/**
 * Reads a float32, float16 or float64 tensor as float32 values, checking its size against its
 * dims. With `transposed`, a 2-D tensor `[rows, columns]` comes out as `[columns, rows]`. Bytes
 * go straight into the result (external ones a block of rows at a time), so a large kernel
 * exists once besides the model file's bytes.
 */
export async function readFloatTensor(
  ctx: TensorContext,
  tensor: onnx.ITensorProto,
  transposed = false,
): Promise<Float32Array> {
  const dataType = tensor.dataType ?? 0;
  if (!isFloatType(dataType)) {
    throw tensorError(
      ctx,
      tensor,
      `has data type ${dataTypeName(dataType)}; PruneLens reads FLOAT, FLOAT16 and DOUBLE weights.`,
    );
  }
  const dims = tensorDims(tensor);
  const count = shapeSize(dims);
  const target =
    transposed && dims.length === 2
      ? matrixTarget(dims[0], dims[1], true)
      : matrixTarget(count, 1, false);
  const typed = typedValues(tensor);
  if (typed) {
    // protobufjs decodes typed fields to number arrays (8 bytes a value), so this copy is smaller.
    if (typed.length !== count) throw sizeMismatch(ctx, tensor, typed.length, count);
    const values =
      dataType === DataType.float16 ? halfBitsToFloat(typed) : Float32Array.from(typed);
    decodeRows(new Uint8Array(values.buffer), 4, target, 0);
    return target.values;
  }
  const width = bytesPerElement[dataType] as FloatWidth;
  if (isExternal(tensor)) {
    await readExternalRows(ctx, tensor, width, target);
    return target.values;
  }
  const bytes = tensor.rawData ?? new Uint8Array();
  if (bytes.length !== expectedBytes(ctx, tensor)) {
    throw sizeMismatch(ctx, tensor, bytes.length / width, count);
  }
  decodeRows(bytes, width, target, 0);
  return target.values;
}

/** Reads an external tensor's bytes a block of rows at a time and decodes them into `target`. */
async function readExternalRows(
  ctx: TensorContext,
  tensor: onnx.ITensorProto,
  width: FloatWidth,
  target: MatrixTarget,
): Promise<void> {
  const where = await resolveExternal(ctx, tensor);
  const rowBytes = target.columns * width;
  const step = rowsPerBlock(rowBytes);
  const block = new Uint8Array(Math.min(step, target.rows) * rowBytes);
  const handle = await fs.open(where.file, 'r');
  try {
    for (let row = 0; row < target.rows; row += step) {
      const bytes = block.subarray(0, Math.min(step, target.rows - row) * rowBytes);
      const position = where.offset + row * rowBytes;
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, position);
      if (bytesRead !== bytes.length)
        throw tensorError(ctx, tensor, `could not be read in full from '${where.location}'.`);
      decodeRows(bytes, width, target, row);
    }
  } finally {
    await handle.close();
  }
}

/** Reads an int32 or int64 tensor (a Reshape shape, for example) as numbers. */
export async function readIntegerTensor(
  ctx: TensorContext,
  tensor: onnx.ITensorProto,
): Promise<number[]> {
  const dataType = tensor.dataType ?? 0;
  if (dataType !== DataType.int64 && dataType !== DataType.int32) {
    throw tensorError(
      ctx,
      tensor,
      `has data type ${dataTypeName(dataType)} where INT64 was expected.`,
    );
  }
  const count = shapeSize(tensorDims(tensor));
  const typed = dataType === DataType.int64 ? tensor.int64Data : tensor.int32Data;
  if (typed && typed.length > 0) {
    if (typed.length !== count) throw sizeMismatch(ctx, tensor, typed.length, count);
    return typed.map((value) => toNumber(value as Int64));
  }
  const bytes = await readStoredBytes(ctx, tensor);
  if (bytes.length !== expectedBytes(ctx, tensor)) {
    throw sizeMismatch(ctx, tensor, bytes.length / bytesPerElement[dataType], count);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    values.push(
      dataType === DataType.int64
        ? Number(view.getBigInt64(i * 8, true))
        : view.getInt32(i * 4, true),
    );
  }
  return values;
}

function sizeMismatch(
  ctx: TensorContext,
  tensor: onnx.ITensorProto,
  stored: number,
  count: number,
): ModelFormatError {
  return tensorError(
    ctx,
    tensor,
    `stores ${stored} values but its dims [${tensorDims(tensor)}] need ${count}; the file is damaged.`,
  );
}

/** Returns the values of the typed field that contains the data, or null when raw or external. */
function typedValues(tensor: onnx.ITensorProto): number[] | null {
  if (isExternal(tensor) || (tensor.rawData && tensor.rawData.length > 0)) return null;
  switch (tensor.dataType) {
    case DataType.float:
      return tensor.floatData ?? [];
    case DataType.float16:
      return tensor.int32Data ?? [];
    case DataType.double:
      return tensor.doubleData ?? [];
    default:
      return null;
  }
}

function halfBitsToFloat(bits: readonly number[]): Float32Array {
  const view = new DataView(new ArrayBuffer(2));
  return Float32Array.from(bits, (value) => {
    view.setUint16(0, value & 0xffff, true);
    return getFloat16(view, 0, true);
  });
}

/**
 * Encodes values as the little-endian bytes of a data type, as `raw_data` and external files
 * store them. Float32 values on a little-endian host are returned as a view, not a copy.
 */
export function encodeFloats(dataType: number, values: Float32Array): Uint8Array {
  if (dataType === DataType.float && littleEndianHost) {
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  }
  const size = bytesPerElement[dataType];
  const bytes = new Uint8Array(values.length * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    if (dataType === DataType.float) view.setFloat32(i * 4, values[i], true);
    else if (dataType === DataType.float16) setFloat16(view, i * 2, values[i], true);
    else view.setFloat64(i * 8, values[i], true);
  }
  return bytes;
}

/** Changes to one stored tensor; fields not named keep their bytes. */
export interface TensorRewrite {
  /** New values, stored the way the tensor stored them (raw, typed field or external). */
  values?: Float32Array;
  /** New dims, when a broadcast bias becomes a full one. */
  dims?: number[];
  /** New external location; the caller writes `values` (or the old bytes) to that file. */
  external?: { location: string; offset: number; length: number };
}

/**
 * Returns the bytes of a TensorProto with the given changes, every other field kept as stored,
 * as parts so that new values are not copied again.
 */
export function rewriteTensor(
  tensorBytes: Uint8Array,
  tensor: onnx.ITensorProto,
  change: TensorRewrite,
): Uint8Array[] {
  let bytes = tensorBytes;
  if (change.dims) {
    const entries = change.dims.map((dim) => encodeVarintField(TensorField.dims, dim));
    bytes = replaceFields(bytes, (span) => span.field === TensorField.dims, entries);
  }
  if (change.external) return [rewriteExternalEntries(bytes, change.external)];
  if (change.values) return rewriteInlineValues(bytes, tensor, change.values);
  return [bytes];
}

function rewriteInlineValues(
  bytes: Uint8Array,
  tensor: onnx.ITensorProto,
  values: Float32Array,
): Uint8Array[] {
  const dataType = tensor.dataType ?? 0;
  if (typedValues(tensor) === null) {
    const field = bytesField(TensorField.rawData, encodeFloats(dataType, values));
    return replacedParts(bytes, (span) => span.field === TensorField.rawData, field);
  }
  if (dataType === DataType.float16) {
    const bits = encodeFloats(DataType.float16, values);
    const view = new DataView(bits.buffer);
    const packed: Uint8Array[] = [];
    for (let i = 0; i < values.length; i++) packed.push(varint(view.getUint16(i * 2, true)));
    const field = bytesField(TensorField.int32Data, concatBytes(packed));
    return replacedParts(bytes, (span) => span.field === TensorField.int32Data, field);
  }
  const number = dataType === DataType.float ? TensorField.floatData : TensorField.doubleData;
  const field = bytesField(number, encodeFloats(dataType, values));
  return replacedParts(bytes, (span) => span.field === number, field);
}

const externalKeysReplaced = new Set(['location', 'offset', 'length', 'checksum']);

function rewriteExternalEntries(
  bytes: Uint8Array,
  external: NonNullable<TensorRewrite['external']>,
): Uint8Array {
  const entries = [
    ['location', external.location],
    ['offset', String(external.offset)],
    ['length', String(external.length)],
  ].map(([key, value]) =>
    encodeBytesField(
      TensorField.externalData,
      concatBytes([encodeStringField(1, key), encodeStringField(2, value)]),
    ),
  );
  const replaced = (span: FieldSpan): boolean => {
    if (span.field !== TensorField.externalData || span.wireType !== lengthDelimited) return false;
    const entry = onnx.StringStringEntryProto.decode(payloadOf(bytes, span));
    return externalKeysReplaced.has(entry.key);
  };
  return replaceFields(bytes, replaced, entries);
}

function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Uint8Array.from(bytes);
}

/** Encodes a new float tensor with inline `raw_data`, for a bias the model did not have. */
export function encodeNewTensor(
  name: string,
  dataType: number,
  dims: number[],
  values: Float32Array,
): Uint8Array {
  return onnx.TensorProto.encode({
    name,
    dataType,
    dims,
    rawData: encodeFloats(dataType, values),
  }).finish();
}
