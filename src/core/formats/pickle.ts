/**
 * A restricted unpickler for PyTorch state dicts. It interprets pickle protocols 0-5 as data only:
 * plain values, lists, tuples, dicts, `collections.OrderedDict`, tensors rebuilt by
 * `torch._utils` functions and storages named by persistent ids. Any other global, any call of a
 * non-whitelisted callable, BUILD on anything but an OrderedDict, INST, OBJ, NEWOBJ and the
 * extension registry opcodes are rejected with an error naming what was rejected, so no code from
 * the file ever runs. Opcode reference: CPython's `Lib/pickletools.py`.
 */

/**
 * A storage named by a persistent id `('storage', <storage class>, key, location, numel)`, with a
 * sixth item `None` in legacy files.
 */
export class StorageRef {
  constructor(
    /** Storage class name, such as `FloatStorage`. */
    readonly storageType: string,
    /** Name of the storage's zip entry under `data/`. */
    readonly key: string,
    readonly location: string,
    /** Number of elements. */
    readonly numel: number,
  ) {}
}

/** A tensor over a storage, as `torch._utils._rebuild_tensor_v2` describes it. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    /** Offset into the storage, in elements. */
    readonly offset: number,
    readonly shape: number[],
    /** Strides in elements. */
    readonly strides: number[],
    readonly requiresGrad: boolean,
    /** True when the tensor was an `nn.Parameter`. */
    readonly isParameter = false,
  ) {}
}

/** A tuple, kept apart from lists so that writers can tell them apart. */
export class PickleTuple {
  constructor(readonly items: PickleValue[]) {}
}

/** A dict or `collections.OrderedDict` in insertion order, with attributes set by BUILD. */
export class PickleDict {
  readonly entries = new Map<PickleKey, PickleValue>();
  /** Instance attributes, such as the `_metadata` PyTorch attaches to state dicts. */
  readonly attributes = new Map<string, PickleValue>();
  constructor(readonly ordered: boolean) {}
}

/** A whitelisted global, only valid as the callable of a REDUCE or inside a persistent id. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  /** Returns the dotted name, such as `torch._utils._rebuild_tensor_v2`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Keys a dict can have in a state dict or a checkpoint. */
export type PickleKey = string | number | bigint | boolean | null;

/** Values the restricted unpickler produces. */
export type PickleValue =
  | PickleKey
  | Uint8Array
  | PickleValue[]
  | PickleTuple
  | PickleDict
  | PickleGlobal
  | StorageRef
  | TensorRef;

/** Error for a pickle the restricted unpickler rejects or cannot parse, in one line. */
export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

/** PyTorch storage classes, by the dtype of their elements. */
export const storageTypes: Readonly<Record<string, string>> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const allowedGlobals = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  '_codecs.encode',
  ...Object.keys(storageTypes).map((name) => `torch.${name}`),
]);

const mark = Symbol('mark');
type StackItem = PickleValue | typeof mark;

/** Returns the printable name of an opcode byte, for errors. */
function opcodeName(code: number): string {
  return opcodeNames[code] ?? `0x${code.toString(16).padStart(2, '0')}`;
}

const opcodeNames: Record<number, string> = {
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x50: 'PERSID',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const rejectionReason = 'only tensors and state dicts are read, and no code in the file is run';

/**
 * Unpickles `data` with the restricted rules above. Returns the root object; storages appear as
 * StorageRef values wherever the pickle names them by persistent id.
 */
export function unpickle(data: Uint8Array): PickleValue {
  return new Unpickler(data, 0).run();
}

/**
 * Unpickles the pickle that starts at byte `start` of `data`, for files that store several pickles
 * in a row. Returns the value and the offset just after its STOP opcode.
 */
export function unpickleAt(data: Uint8Array, start: number): { value: PickleValue; end: number } {
  const unpickler = new Unpickler(data, start);
  const value = unpickler.run();
  return { value, end: unpickler.offset };
}

class Unpickler {
  private stack: StackItem[] = [];
  private marks: number[] = [];
  private memo = new Map<number, PickleValue>();
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    private position: number,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Offset of the next byte to read. */
  get offset(): number {
    return this.position;
  }

  run(): PickleValue {
    for (;;) {
      if (this.position >= this.data.length)
        throw new PickleError('pickle data ends without a STOP opcode');
      const code = this.data[this.position++];
      if (code === 0x2e) return this.pop();
      this.step(code);
    }
  }

  private step(code: number): void {
    if (this.stepValue(code) || this.stepContainer(code) || this.stepMemo(code)) return;
    if (this.stepObject(code)) return;
    const name = opcodeName(code);
    if (name in opcodeNamesReverse) {
      throw new PickleError(`refused the pickle opcode ${name}: ${rejectionReason}`);
    }
    throw new PickleError(`unknown pickle opcode ${name} at byte ${this.position - 1}`);
  }

  /** Opcodes that push a plain value. */
  // prettier-ignore
  private stepValue(code: number): boolean {
    switch (code) {
      case 0x80: this.bytes(1); return true; // PROTO
      case 0x95: this.bytes(8); return true; // FRAME: frames are read as one stream
      case 0x4e: this.push(null); return true; // NONE
      case 0x88: this.push(true); return true; // NEWTRUE
      case 0x89: this.push(false); return true; // NEWFALSE
      case 0x4a: this.push(this.view.getInt32(this.advance(4), true)); return true; // BININT
      case 0x4b: this.push(this.data[this.advance(1)]); return true; // BININT1
      case 0x4d: this.push(this.view.getUint16(this.advance(2), true)); return true; // BININT2
      case 0x8a: this.push(this.longBytes(this.data[this.advance(1)])); return true; // LONG1
      case 0x8b: this.push(this.longBytes(this.size(4))); return true; // LONG4
      case 0x47: this.push(this.view.getFloat64(this.advance(8), false)); return true; // BINFLOAT
      case 0x49: this.push(this.textInt(this.line())); return true; // INT
      case 0x4c: this.push(this.textInt(this.line().replace(/L$/, ''))); return true; // LONG
      case 0x46: this.push(Number.parseFloat(this.line())); return true; // FLOAT
      case 0x58: this.push(this.utf8(this.size(4))); return true; // BINUNICODE
      case 0x8c: this.push(this.utf8(this.data[this.advance(1)])); return true; // SHORT_BINUNICODE
      case 0x8d: this.push(this.utf8(this.size(8))); return true; // BINUNICODE8
      case 0x56: this.push(rawUnicodeEscape(this.line())); return true; // UNICODE
      case 0x54: this.push(this.latin1(this.size(4))); return true; // BINSTRING
      case 0x55: this.push(this.latin1(this.data[this.advance(1)])); return true; // SHORT_BINSTRING
      case 0x53: this.push(this.line().replace(/^(['"])(.*)\1$/, '$2')); return true; // STRING
      case 0x42: this.push(this.bytes(this.size(4)).slice()); return true; // BINBYTES
      case 0x43: this.push(this.bytes(this.data[this.advance(1)]).slice()); return true; // SHORT_BINBYTES
      case 0x8e: this.push(this.bytes(this.size(8)).slice()); return true; // BINBYTES8
      case 0x96: this.push(this.bytes(this.size(8)).slice()); return true; // BYTEARRAY8
      default: return false;
    }
  }

  /** Opcodes that build lists, tuples, dicts and sets, and stack bookkeeping. */
  // prettier-ignore
  private stepContainer(code: number): boolean {
    switch (code) {
      case 0x28: this.marks.push(this.stack.length); return true; // MARK
      case 0x30: this.pop(); return true; // POP
      case 0x31: this.popMark(); return true; // POP_MARK
      case 0x32: this.push(this.top()); return true; // DUP
      case 0x5d: this.push([]); return true; // EMPTY_LIST
      case 0x6c: this.push(this.popMark()); return true; // LIST
      case 0x61: this.appendItems([this.pop()]); return true; // APPEND
      case 0x65: this.appendItems(this.popMark()); return true; // APPENDS
      case 0x29: this.push(new PickleTuple([])); return true; // EMPTY_TUPLE
      case 0x74: this.push(new PickleTuple(this.popMark())); return true; // TUPLE
      case 0x85: this.push(new PickleTuple(this.popItems(1))); return true; // TUPLE1
      case 0x86: this.push(new PickleTuple(this.popItems(2))); return true; // TUPLE2
      case 0x87: this.push(new PickleTuple(this.popItems(3))); return true; // TUPLE3
      case 0x7d: this.push(new PickleDict(false)); return true; // EMPTY_DICT
      case 0x64: this.push(this.setItems(new PickleDict(false), this.popMark())); return true; // DICT
      case 0x73: this.setItems(this.topDict(2), this.popItems(2)); return true; // SETITEM
      case 0x75: { // SETITEMS
        const items = this.popMark();
        this.setItems(this.topDict(0), items);
        return true;
      }
      case 0x8f: this.push([]); return true; // EMPTY_SET, read as a list
      case 0x90: this.appendItems(this.popMark()); return true; // ADDITEMS
      case 0x91: this.push(this.popMark()); return true; // FROZENSET, read as a list
      default: return false;
    }
  }

  // prettier-ignore
  private stepMemo(code: number): boolean {
    switch (code) {
      case 0x68: this.push(this.recall(this.data[this.advance(1)])); return true; // BINGET
      case 0x6a: this.push(this.recall(this.view.getUint32(this.advance(4), true))); return true; // LONG_BINGET
      case 0x67: this.push(this.recall(Number(this.line()))); return true; // GET
      case 0x71: this.memo.set(this.data[this.advance(1)], this.top()); return true; // BINPUT
      case 0x72: this.memo.set(this.view.getUint32(this.advance(4), true), this.top()); return true; // LONG_BINPUT
      case 0x70: this.memo.set(Number(this.line()), this.top()); return true; // PUT
      case 0x94: this.memo.set(this.memo.size, this.top()); return true; // MEMOIZE
      default: return false;
    }
  }

  /** Globals, calls, BUILD and persistent ids: the opcodes where code could run elsewhere. */
  private stepObject(code: number): boolean {
    switch (code) {
      case 0x63: {
        // GLOBAL
        const module = this.line();
        this.push(this.global(module, this.line()));
        return true;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw new PickleError('STACK_GLOBAL expects two strings');
        }
        this.push(this.global(module, name));
        return true;
      }
      case 0x52: {
        // REDUCE
        const args = this.pop();
        this.push(this.call(this.pop(), args));
        return true;
      }
      case 0x62: {
        // BUILD
        const state = this.pop();
        this.build(this.top(), state);
        return true;
      }
      case 0x51:
        this.push(this.persistent(this.pop()));
        return true; // BINPERSID
      default:
        return false;
    }
  }

  private global(module: string, name: string): PickleGlobal {
    const qualified = `${module}.${name}`;
    if (!allowedGlobals.has(qualified)) {
      // A whole pickled model or a Lightning checkpoint names its classes (torch.nn.modules...,
      // __main__.Net, pytorch_lightning...), and re-saving just the state dict avoids them.
      const isModel = /^(torch\.nn|__main__$|pytorch_lightning|lightning)/.test(module);
      const hint = isModel ? '; save the state dict with torch.save(model.state_dict(), path)' : '';
      throw new PickleError(`refused to load '${qualified}': ${rejectionReason}${hint}`);
    }
    return new PickleGlobal(module, name);
  }

  private call(callable: PickleValue, args: PickleValue): PickleValue {
    if (!(callable instanceof PickleGlobal)) {
      throw new PickleError(`refused to call a ${describe(callable)}: ${rejectionReason}`);
    }
    if (!(args instanceof PickleTuple))
      throw new PickleError(`REDUCE expects a tuple of arguments`);
    const items = args.items;
    switch (callable.qualifiedName) {
      case 'collections.OrderedDict':
        if (items.length === 0) return new PickleDict(true);
        break;
      case 'torch._utils._rebuild_tensor_v2':
        return rebuildTensor(items);
      case 'torch._utils._rebuild_parameter':
        return rebuildParameter(items);
      case '_codecs.encode':
        if (typeof items[0] === 'string' && items[1] === 'latin1') {
          return Uint8Array.from(items[0], (character) => character.charCodeAt(0));
        }
        break;
    }
    throw new PickleError(
      `refused to call '${callable.qualifiedName}' with these arguments: ${rejectionReason}`,
    );
  }

  private build(target: StackItem, state: PickleValue): void {
    if (target instanceof PickleDict && target.ordered && state instanceof PickleDict) {
      for (const [key, value] of state.entries) {
        if (typeof key === 'string') target.attributes.set(key, value);
      }
      return;
    }
    if (target instanceof PickleDict && target.ordered && state === null) return;
    throw new PickleError(
      `refused BUILD on a ${describe(target as PickleValue)}: ${rejectionReason}`,
    );
  }

  private persistent(id: PickleValue): StorageRef {
    const items = id instanceof PickleTuple ? id.items : null;
    const [tag, type, key, location, numel, view] = items ?? [];
    // Legacy (non-zip) files add a sixth item, view metadata, which is None for whole storages.
    const validLength = items?.length === 5 || (items?.length === 6 && view === null);
    const valid =
      validLength &&
      tag === 'storage' &&
      type instanceof PickleGlobal &&
      type.name in storageTypes &&
      typeof key === 'string' &&
      typeof location === 'string' &&
      typeof numel === 'number';
    if (!valid)
      throw new PickleError(
        `unsupported persistent id ${describe(id)}; only tensor storages are read`,
      );
    return new StorageRef(type.name, key, location, numel);
  }

  private push(value: StackItem): void {
    this.stack.push(value);
  }

  private pop(): PickleValue {
    if (this.stack.length === 0 || this.stack.length <= (this.marks.at(-1) ?? -1)) {
      throw new PickleError(`pickle stack underflow at byte ${this.position - 1}`);
    }
    return this.stack.pop() as PickleValue;
  }

  private top(): PickleValue {
    const value = this.stack.at(-1);
    if (value === undefined || value === mark) throw new PickleError('pickle stack is empty');
    return value;
  }

  private topDict(itemsAbove: number): PickleDict {
    const target = this.stack[this.stack.length - 1 - itemsAbove];
    if (!(target instanceof PickleDict))
      throw new PickleError('SETITEM(S) on something that is not a dict');
    return target;
  }

  private popItems(count: number): PickleValue[] {
    const floor = this.marks.at(-1) ?? 0;
    if (this.stack.length - count < floor) throw new PickleError('pickle stack underflow');
    return this.stack.splice(this.stack.length - count, count) as PickleValue[];
  }

  private popMark(): PickleValue[] {
    const start = this.marks.pop();
    if (start === undefined) throw new PickleError('pickle MARK missing');
    return this.stack.splice(start) as PickleValue[];
  }

  private appendItems(items: PickleValue[]): void {
    const target = this.top();
    if (!Array.isArray(target)) throw new PickleError('APPEND(S) on something that is not a list');
    target.push(...items);
  }

  private setItems(target: PickleDict, items: PickleValue[]): PickleDict {
    if (items.length % 2 !== 0) throw new PickleError('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      target.entries.set(dictKey(items[i]), items[i + 1]);
    }
    return target;
  }

  private recall(index: number): PickleValue {
    const value = this.memo.get(index);
    if (value === undefined) throw new PickleError(`pickle memo entry ${index} is missing`);
    return value;
  }

  private advance(count: number): number {
    const start = this.position;
    if (start + count > this.data.length) throw new PickleError('pickle data is truncated');
    this.position += count;
    return start;
  }

  private size(width: 4 | 8): number {
    const at = this.advance(width);
    const size =
      width === 4 ? this.view.getUint32(at, true) : Number(this.view.getBigUint64(at, true));
    if (size > this.data.length - this.position) throw new PickleError('pickle data is truncated');
    return size;
  }

  private bytes(count: number): Uint8Array {
    const start = this.advance(count);
    return this.data.subarray(start, start + count);
  }

  private utf8(count: number): string {
    return new TextDecoder('utf-8').decode(this.bytes(count));
  }

  private latin1(count: number): string {
    return Buffer.from(this.bytes(count)).toString('latin1');
  }

  private line(): string {
    const end = this.data.indexOf(0x0a, this.position);
    if (end < 0) throw new PickleError('pickle data is truncated');
    const text = this.latin1(end - this.position);
    this.position = end + 1;
    return text;
  }

  private textInt(text: string): number | bigint | boolean {
    if (text === '00') return false;
    if (text === '01') return true;
    // Protocol 0 writes ints as decimal text; LONG adds a trailing L.
    const digits = /^\s*([+-]?\d+)L?\s*$/.exec(text);
    if (!digits) throw new PickleError(`invalid integer text ${JSON.stringify(text.slice(0, 40))}`);
    const value = BigInt(digits[1]);
    return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  }

  private longBytes(count: number): number | bigint {
    const bytes = this.bytes(count);
    let value = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
    if (count > 0 && bytes[count - 1] & 0x80) value -= 1n << BigInt(8 * count);
    return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  }
}

const opcodeNamesReverse = Object.fromEntries(
  Object.values(opcodeNames).map((name) => [name, true]),
);

/** Decodes Python's raw-unicode-escape: latin-1 text with `\uXXXX` and `\UXXXXXXXX` escapes. */
function rawUnicodeEscape(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, short, long) => {
    const codePoint = Number.parseInt(short ?? long, 16);
    if (codePoint > 0x10ffff) throw new PickleError(`invalid character escape \\U${long}`);
    return String.fromCodePoint(codePoint);
  });
}

function dictKey(value: PickleValue): PickleKey {
  const plain = value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value);
  if (!plain) throw new PickleError(`unsupported dict key ${describe(value)}`);
  return value as PickleKey;
}

/** Describes a value in a few words, for errors. */
function describe(value: PickleValue | undefined): string {
  if (value instanceof PickleGlobal) return `'${value.qualifiedName}'`;
  if (value instanceof PickleTuple) return 'tuple';
  if (value instanceof PickleDict) return value.ordered ? 'OrderedDict' : 'dict';
  if (value instanceof TensorRef) return 'tensor';
  if (value instanceof StorageRef) return 'storage';
  if (Array.isArray(value)) return 'list';
  return value === null ? 'None' : typeof value;
}

function integerList(value: PickleValue, what: string): number[] {
  const items = value instanceof PickleTuple ? value.items : null;
  if (!items || !items.every((item) => typeof item === 'number' && Number.isSafeInteger(item))) {
    throw new PickleError(`tensor ${what} must be a tuple of integers`);
  }
  return items as number[];
}

/**
 * Rebuilds a tensor from the arguments of `_rebuild_tensor_v2(storage, storage_offset, size,
 * stride, requires_grad, backward_hooks[, metadata])`.
 */
function rebuildTensor(args: PickleValue[]): TensorRef {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (args.length < 6 || !(storage instanceof StorageRef) || typeof offset !== 'number') {
    throw new PickleError('_rebuild_tensor_v2 called with unexpected arguments');
  }
  const shape = integerList(size, 'size');
  const strides = integerList(stride, 'stride');
  if (shape.length !== strides.length)
    throw new PickleError('tensor size and stride differ in length');
  return new TensorRef(storage, offset, shape, strides, requiresGrad === true);
}

/** `_rebuild_parameter(data, requires_grad, backward_hooks)`: a tensor marked as a parameter. */
function rebuildParameter(args: PickleValue[]): TensorRef {
  const [data, requiresGrad] = args;
  if (!(data instanceof TensorRef))
    throw new PickleError('_rebuild_parameter called without a tensor');
  return new TensorRef(
    data.storage,
    data.offset,
    data.shape,
    data.strides,
    requiresGrad === true,
    true,
  );
}
