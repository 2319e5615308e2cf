/**
 * Element types of stored tensors, and strided views that read and write their float values.
 * The type names are the ones safetensors uses; PyTorch storage classes map onto them.
 */

/** Element types of stored tensors, as safetensors names them. */
export type TensorDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL'
  | 'F8_E5M2'
  | 'F8_E4M3';

/** The element types whose values PyTorch models use as weights and PruneLens reads. */
export type FloatDtype = 'F64' | 'F32' | 'F16' | 'BF16';

/** Bytes per element of each element type. */
export const dtypeSizes: Readonly<Record<TensorDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
};

/** Returns true for a known element type name. */
export function isTensorDtype(name: string): name is TensorDtype {
  return Object.prototype.hasOwnProperty.call(dtypeSizes, name);
}

/** Returns true for the float types that can be read as weights. */
export function isFloatDtype(dtype: TensorDtype): dtype is FloatDtype {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** Converts an IEEE 754 half-precision bit pattern to a number. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const float32Scratch = new Float32Array(1);
const uint32Scratch = new Uint32Array(float32Scratch.buffer);

/** Converts a number to the nearest half-precision bit pattern (ties to even), as PyTorch does. */
export function numberToHalf(value: number): number {
  float32Scratch[0] = value;
  const bits = uint32Scratch[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit leading one into place.
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    return sign | roundShift(full, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent, up to infinity.
  return sign | ((halfExponent << 10) + roundShift(mantissa, 13));
}

/** Shifts right by `shift` bits, rounding to nearest with ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const remainder = value - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  if (remainder > half || (remainder === half && (kept & 1) === 1)) return kept + 1;
  return kept;
}

/** Converts a bfloat16 bit pattern to a number. */
export function bfloat16ToNumber(bits: number): number {
  uint32Scratch[0] = bits << 16;
  return float32Scratch[0];
}

/** Converts a number to the nearest bfloat16 bit pattern (ties to even), as PyTorch does. */
export function numberToBfloat16(value: number): number {
  float32Scratch[0] = value;
  const bits = uint32Scratch[0];
  if (Number.isNaN(value)) return ((bits >>> 16) & 0xffff) | 0x40;
  return roundShift(bits, 16) & 0xffff;
}

/**
 * A strided view of float elements inside a byte buffer: a safetensors tensor or a PyTorch
 * tensor over its storage. Offsets and strides count elements, not bytes.
 */
export interface StridedView {
  dtype: FloatDtype;
  bytes: Uint8Array;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
  littleEndian: boolean;
}

/** Returns the row-major (contiguous) strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis];
  }
  return strides;
}

/** Returns the element index in the buffer of every value of the view, in row-major order. */
export function elementIndices(
  view: Omit<StridedView, 'bytes' | 'dtype' | 'littleEndian'>,
): Int32Array {
  const count = view.shape.reduce((product, size) => product * size, 1);
  const indices = new Int32Array(count);
  const position = new Array<number>(view.shape.length).fill(0);
  let index = view.offset;
  for (let i = 0; i < count; i++) {
    indices[i] = index;
    for (let axis = view.shape.length - 1; axis >= 0; axis--) {
      position[axis]++;
      index += view.strides[axis];
      if (position[axis] < view.shape[axis]) break;
      index -= view.strides[axis] * view.shape[axis];
      position[axis] = 0;
    }
  }
  return indices;
}

function dataViewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readElement(data: DataView, dtype: FloatDtype, index: number, little: boolean): number {
  switch (dtype) {
    case 'F32':
      return data.getFloat32(index * 4, little);
    case 'F64':
      return data.getFloat64(index * 8, little);
    case 'F16':
      return halfToNumber(data.getUint16(index * 2, little));
    case 'BF16':
      return bfloat16ToNumber(data.getUint16(index * 2, little));
  }
}

function writeElement(
  data: DataView,
  dtype: FloatDtype,
  index: number,
  value: number,
  little: boolean,
): void {
  switch (dtype) {
    case 'F32':
      return data.setFloat32(index * 4, value, little);
    case 'F64':
      return data.setFloat64(index * 8, value, little);
    case 'F16':
      return data.setUint16(index * 2, numberToHalf(value), little);
    case 'BF16':
      return data.setUint16(index * 2, numberToBfloat16(value), little);
  }
}

/** Returns true when the view's values are native float32 laid out row-major. */
function isContiguousFloat32(view: StridedView): boolean {
  const strides = contiguousStrides(view.shape);
  const nativeLittleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
  return (
    view.dtype === 'F32' &&
    view.littleEndian === nativeLittleEndian &&
    view.shape.every((size, axis) => size === 1 || view.strides[axis] === strides[axis])
  );
}

/** Reads the view's values as float32, in row-major order of its shape. */
export function readView(view: StridedView): Float32Array {
  if (isContiguousFloat32(view)) {
    const start = view.bytes.byteOffset + view.offset * 4;
    const count = view.shape.reduce((product, size) => product * size, 1);
    return new Float32Array(view.bytes.buffer.slice(start, start + count * 4));
  }
  const data = dataViewOf(view.bytes);
  const indices = elementIndices(view);
  const values = new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    values[i] = readElement(data, view.dtype, indices[i], view.littleEndian);
  }
  return values;
}

/**
 * Writes `values` (row-major over the view's shape) into the buffer in place. Only elements whose
 * float32 value differs from the stored one are written, so unchanged elements keep their exact
 * bytes even in F64 storages. Returns the number of elements written.
 */
export function writeView(view: StridedView, values: Float32Array): number {
  const data = dataViewOf(view.bytes);
  const indices = elementIndices(view);
  if (values.length !== indices.length) {
    throw new RangeError(`expected ${indices.length} values for the tensor, got ${values.length}`);
  }
  let written = 0;
  for (let i = 0; i < indices.length; i++) {
    const stored = Math.fround(readElement(data, view.dtype, indices[i], view.littleEndian));
    if (Object.is(stored, values[i])) continue;
    writeElement(data, view.dtype, indices[i], values[i], view.littleEndian);
    written++;
  }
  return written;
}

/** Encodes float32 values as a new contiguous little-endian buffer of the given type. */
export function encodeValues(values: Float32Array, dtype: FloatDtype): Uint8Array {
  const bytes = new Uint8Array(values.length * dtypeSizes[dtype]);
  const data = dataViewOf(bytes);
  for (let i = 0; i < values.length; i++) writeElement(data, dtype, i, values[i], true);
  return bytes;
}
