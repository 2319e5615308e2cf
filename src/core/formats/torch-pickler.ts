/**
 * Writes a state dict as a protocol-2 pickle that `torch.load` reads, including with
 * `weights_only=True`: an OrderedDict of tensors rebuilt by `torch._utils._rebuild_tensor_v2`
 * over storages named by persistent ids, with the dict's attributes (PyTorch's `_metadata`)
 * restored by BUILD. Opcode reference: CPython's `Lib/pickletools.py`.
 */
import {
  PickleDict,
  PickleGlobal,
  PickleTuple,
  StorageRef,
  TensorRef,
  type PickleValue,
} from './pickle';

const opcodes = {
  proto: 0x80,
  stop: 0x2e,
  mark: 0x28,
  global: 0x63,
  reduce: 0x52,
  build: 0x62,
  binpersid: 0x51,
  none: 0x4e,
  true: 0x88,
  false: 0x89,
  binint: 0x4a,
  long1: 0x8a,
  binfloat: 0x47,
  binunicode: 0x58,
  binbytes: 0x42,
  emptyTuple: 0x29,
  tuple: 0x74,
  emptyList: 0x5d,
  appends: 0x65,
  emptyDict: 0x7d,
  setitems: 0x75,
} as const;

/** Accumulates pickle bytes. */
class PickleWriter {
  private chunks: Uint8Array[] = [];
  /** Nesting depth of the value being written. */
  depth = 0;

  byte(value: number): void {
    this.chunks.push(Uint8Array.of(value));
  }

  raw(bytes: Uint8Array): void {
    this.chunks.push(bytes);
  }

  global(module: string, name: string): void {
    this.byte(opcodes.global);
    this.raw(new TextEncoder().encode(`${module}\n${name}\n`));
  }

  string(text: string): void {
    const bytes = new TextEncoder().encode(text);
    this.byte(opcodes.binunicode);
    this.uint32(bytes.length);
    this.raw(bytes);
  }

  integer(value: number | bigint): void {
    const big = BigInt(value);
    if (big >= -(2n ** 31n) && big < 2n ** 31n) {
      const bytes = new Uint8Array(5);
      bytes[0] = opcodes.binint;
      new DataView(bytes.buffer).setInt32(1, Number(big), true);
      this.raw(bytes);
      return;
    }
    const digits: number[] = [];
    let rest = big;
    // Two's complement, little-endian, as few bytes as keep the sign bit right.
    while (rest !== 0n && rest !== -1n) {
      digits.push(Number(rest & 0xffn));
      rest >>= 8n;
    }
    const negative = big < 0n;
    if (((digits[digits.length - 1] ?? 0) & 0x80) !== (negative ? 0x80 : 0))
      digits.push(negative ? 0xff : 0);
    this.byte(opcodes.long1);
    this.byte(digits.length);
    this.raw(Uint8Array.from(digits));
  }

  float(value: number): void {
    const bytes = new Uint8Array(9);
    bytes[0] = opcodes.binfloat;
    new DataView(bytes.buffer).setFloat64(1, value, false);
    this.raw(bytes);
  }

  uint32(value: number): void {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value, true);
    this.raw(bytes);
  }

  result(): Uint8Array {
    const total = this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const output = new Uint8Array(total);
    let offset = 0;
    for (const chunk of this.chunks) {
      output.set(chunk, offset);
      offset += chunk.length;
    }
    return output;
  }
}

/**
 * Pickles a state dict. Integral numbers are written as ints and others as floats. That is right
 * for tensor metadata and PyTorch's `_metadata` versions, but a float such as 1.0 elsewhere would
 * come back as an int, so callers pass state dicts only.
 */
export function pickleStateDict(dict: PickleDict): Uint8Array {
  const writer = new PickleWriter();
  writer.byte(opcodes.proto);
  writer.byte(2);
  writeValue(writer, dict);
  writer.byte(opcodes.stop);
  return writer.result();
}

/** Deepest nesting written; PyTorch state dicts and their `_metadata` use three levels. */
const maxDepth = 64;

function writeValue(writer: PickleWriter, value: PickleValue): void {
  // A hostile file could make `_metadata` refer to itself, which would otherwise never end.
  if (++writer.depth > maxDepth) {
    throw new RangeError(`cannot write a pickle nested deeper than ${maxDepth} levels`);
  }
  try {
    writeItem(writer, value);
  } finally {
    writer.depth--;
  }
}

function writeItem(writer: PickleWriter, value: PickleValue): void {
  if (value === null) return writer.byte(opcodes.none);
  if (value === true) return writer.byte(opcodes.true);
  if (value === false) return writer.byte(opcodes.false);
  if (typeof value === 'bigint') return writer.integer(value);
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) ? writer.integer(value) : writer.float(value);
  }
  if (typeof value === 'string') return writer.string(value);
  if (value instanceof Uint8Array) {
    writer.byte(opcodes.binbytes);
    writer.uint32(value.length);
    return writer.raw(value);
  }
  if (Array.isArray(value)) return writeList(writer, value);
  if (value instanceof PickleTuple) return writeTuple(writer, value.items);
  if (value instanceof PickleDict) return writeDict(writer, value);
  if (value instanceof TensorRef) return writeTensor(writer, value);
  if (value instanceof StorageRef) return writeStorage(writer, value);
  if (value instanceof PickleGlobal) return writer.global(value.module, value.name);
}

function writeList(writer: PickleWriter, items: PickleValue[]): void {
  writer.byte(opcodes.emptyList);
  if (items.length === 0) return;
  writer.byte(opcodes.mark);
  for (const item of items) writeValue(writer, item);
  writer.byte(opcodes.appends);
}

function writeTuple(writer: PickleWriter, items: PickleValue[]): void {
  if (items.length === 0) return writer.byte(opcodes.emptyTuple);
  writer.byte(opcodes.mark);
  for (const item of items) writeValue(writer, item);
  writer.byte(opcodes.tuple);
}

function writeDict(writer: PickleWriter, dict: PickleDict): void {
  if (dict.ordered) {
    writer.global('collections', 'OrderedDict');
    writer.byte(opcodes.emptyTuple);
    writer.byte(opcodes.reduce);
  } else {
    writer.byte(opcodes.emptyDict);
  }
  if (dict.entries.size > 0) {
    writer.byte(opcodes.mark);
    for (const [key, item] of dict.entries) {
      writeValue(writer, key);
      writeValue(writer, item);
    }
    writer.byte(opcodes.setitems);
  }
  if (dict.attributes.size === 0) return;
  const state = new PickleDict(false);
  for (const [key, item] of dict.attributes) state.entries.set(key, item);
  writeDict(writer, state);
  writer.byte(opcodes.build);
}

function writeStorage(writer: PickleWriter, storage: StorageRef): void {
  writer.byte(opcodes.mark);
  writer.string('storage');
  writer.global('torch', storage.storageType);
  writer.string(storage.key);
  writer.string(storage.location);
  writer.integer(storage.numel);
  writer.byte(opcodes.tuple);
  writer.byte(opcodes.binpersid);
}

function writeTensor(writer: PickleWriter, tensor: TensorRef): void {
  if (tensor.isParameter) {
    writer.global('torch._utils', '_rebuild_parameter');
    writer.byte(opcodes.mark);
  }
  writer.global('torch._utils', '_rebuild_tensor_v2');
  writer.byte(opcodes.mark);
  writeStorage(writer, tensor.storage);
  writer.integer(tensor.offset);
  writeTuple(writer, tensor.shape);
  writeTuple(writer, tensor.strides);
  writeValue(writer, tensor.requiresGrad);
  writeDict(writer, new PickleDict(true));
  writer.byte(opcodes.tuple);
  writer.byte(opcodes.reduce);
  if (!tensor.isParameter) return;
  writeValue(writer, tensor.requiresGrad);
  writeDict(writer, new PickleDict(true));
  writer.byte(opcodes.tuple);
  writer.byte(opcodes.reduce);
}
