import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openModel } from '../../../src/core/formats/index';
import {
  PickleDict,
  PickleError,
  PickleTuple,
  StorageRef,
  TensorRef,
  unpickle,
  type PickleValue,
} from '../../../src/core/formats/pickle';
import { pickleStateDict } from '../../../src/core/formats/torch-pickler';
import { writeStoredZip } from '../../../src/core/formats/torch-zip';
import { findPython, runPython, torchZipEntries } from './pytorch-fixtures';

const latin1 = (text: string) => Uint8Array.from(text, (character) => character.charCodeAt(0));

/** Converts unpickled values to plain JSON-like values for comparison with Python's output. */
function plain(value: PickleValue): unknown {
  if (value instanceof PickleTuple) return value.items.map(plain);
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof PickleDict) {
    return Object.fromEntries([...value.entries].map(([key, item]) => [String(key), plain(item)]));
  }
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return [...value];
  return value;
}

describe('restricted unpickler', () => {
  let folder: string;
  let marker: string;

  before(async () => {
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'prunelens-pickle-'));
    marker = path.join(folder, 'executed');
  });

  after(async () => {
    await fs.rm(folder, { recursive: true, force: true });
  });

  it(
    'reads plain values of every protocol',
    { skip: !findPython('pickle') && 'python3 not found' },
    () => {
      const python = findPython('pickle') as string;
      const script = String.raw`
import pickle, json, sys, collections
value = {'a': [1, -2, 300, 70000, -70000, 2**40, -(2**70)], 'b': (1.5, -0.25, 'text', 'üñí'),
         'c': {'nested': None, 't': True, 'f': False}, 'd': b'\x00\x01\xff', 'e': (), 'g': [],
         'h': collections.OrderedDict([('x', 1), ('y', 2)]), 'i': 'x' * 300}
out = [pickle.dumps(value, protocol=p).hex() for p in range(6)]
print(json.dumps(out))`;
      const pickles = runPython(python, script) as string[];
      const expected = {
        a: [1, -2, 300, 70000, -70000, 2 ** 40, (-(2n ** 70n)).toString()],
        b: [1.5, -0.25, 'text', 'üñí'],
        c: { nested: null, t: true, f: false },
        d: [0, 1, 255],
        e: [],
        g: [],
        h: { x: 1, y: 2 },
        i: 'x'.repeat(300),
      };
      assert.equal(pickles.length, 6);
      pickles.forEach((hex, protocol) => {
        assert.deepEqual(
          plain(unpickle(Buffer.from(hex, 'hex'))),
          expected,
          `protocol ${protocol}`,
        );
      });
    },
  );

  const hostile: { name: string; bytes: Uint8Array; pattern: RegExp }[] = [
    {
      name: 'GLOBAL os system with REDUCE',
      bytes: latin1(`cos\nsystem\n(S'touch MARKER'\ntR.`),
      pattern: /refused to load 'os\.system'/,
    },
    {
      name: 'GLOBAL builtins eval',
      bytes: latin1(`\x80\x02cbuiltins\neval\nX\x05\x00\x00\x001+1\x85R.`),
      pattern: /refused to load 'builtins\.eval'/,
    },
    {
      name: 'STACK_GLOBAL subprocess Popen',
      bytes: latin1(`\x80\x04\x8c\nsubprocess\x8c\x05Popen\x93\x8c\x05touch\x85R.`),
      pattern: /refused to load 'subprocess\.Popen'/,
    },
    {
      name: 'INST opcode',
      bytes: latin1(`(S'touch MARKER'\nios\nsystem\n.`),
      pattern: /refused the pickle opcode INST/,
    },
    {
      name: 'OBJ opcode',
      bytes: latin1(`\x80\x02(o.`),
      pattern: /refused the pickle opcode OBJ/,
    },
    {
      name: 'EXT1 opcode',
      bytes: latin1(`\x80\x02\x82\x01.`),
      pattern: /refused the pickle opcode EXT1/,
    },
    {
      name: 'EXT2 opcode',
      bytes: latin1(`\x80\x02\x83\x01\x00.`),
      pattern: /refused the pickle opcode EXT2/,
    },
    {
      name: 'NEWOBJ opcode',
      bytes: latin1(`\x80\x02ccollections\nOrderedDict\n)\x81.`),
      pattern: /refused the pickle opcode NEWOBJ/,
    },
    {
      name: 'REDUCE of a storage class',
      bytes: latin1(`\x80\x02ctorch\nFloatStorage\n)R.`),
      pattern: /refused to call 'torch\.FloatStorage'/,
    },
    {
      name: 'BUILD on a plain dict',
      bytes: latin1(`\x80\x02}}b.`),
      pattern: /refused BUILD on a dict/,
    },
  ];

  for (const { name, bytes, pattern } of hostile) {
    it(`rejects ${name}`, () => {
      const payload = latin1(new TextDecoder('latin1').decode(bytes).replace('MARKER', marker));
      assert.throws(
        () => unpickle(payload),
        (error: unknown) => {
          assert.ok(error instanceof PickleError);
          assert.match(error.message, pattern);
          assert.doesNotMatch(error.message, /\n/);
          return true;
        },
      );
      assert.equal(existsSync(marker), false);
    });
  }

  it(
    'rejects a Python-made os.system payload',
    { skip: !findPython('pickle') && 'python3 not found' },
    () => {
      const python = findPython('pickle') as string;
      const script = String.raw`
import pickle, json, os, sys
class Payload:
    def __reduce__(self):
        return (os.system, ('touch ' + sys.argv[1],))
print(json.dumps([pickle.dumps(Payload(), protocol=p).hex() for p in (2, 4, 5)]))`;
      const payloads = runPython(python, script, [marker]) as string[];
      for (const hex of payloads) {
        assert.throws(
          () => unpickle(Buffer.from(hex, 'hex')),
          /refused to load '(posix|os)\.system'/,
        );
      }
      assert.equal(existsSync(marker), false);
    },
  );

  it('rejects a hostile pickle inside a .pth file', async () => {
    const file = path.join(folder, 'hostile.pth');
    const entries = torchZipEntries([{ name: 'fc.weight', shape: [1, 1], values: [1] }]);
    entries[0].data = latin1(`\x80\x02cos\nsystem\nX\x05\x00\x00\x00touch\x85R.`);
    await fs.writeFile(file, writeStoredZip(entries));
    await assert.rejects(openModel(file), (error: Error) => {
      assert.match(
        error.message,
        /hostile\.pth: refused to load 'os\.system': only tensors and state dicts are read/,
      );
      return true;
    });
  });

  it('rejects a hostile legacy file', async () => {
    const file = path.join(folder, 'hostile-legacy.pt');
    const magic = '\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.';
    const version = '\x80\x02M\xe9\x03.';
    const systemInfo = '\x80\x02}.';
    const payload = `\x80\x02cos\nsystem\nX\x05\x00\x00\x00touch\x85R.`;
    await fs.writeFile(file, latin1(magic + version + systemInfo + payload));
    await assert.rejects(openModel(file), /hostile-legacy\.pt: refused to load 'os\.system'/);
  });

  it('rejects truncated data', () => {
    assert.throws(() => unpickle(latin1('\x80\x02X\x10\x00\x00\x00abc')), /truncated/);
    assert.throws(() => unpickle(latin1('\x80\x02N')), /without a STOP/);
  });

  it('rejects unknown persistent ids', () => {
    assert.throws(
      () => unpickle(latin1(`\x80\x02X\x03\x00\x00\x00abc\x85Q.`)),
      /unsupported persistent id/,
    );
  });

  it('reads long latin-1 strings', () => {
    const text = 'é'.repeat(300_000);
    const bytes = Buffer.concat([
      Buffer.from([0x80, 0x02, 0x54]),
      Buffer.from(Uint32Array.of(text.length).buffer),
      Buffer.from(text, 'latin1'),
      Buffer.from('.'),
    ]);
    assert.equal(unpickle(bytes), text);
  });

  it('stops writing self-referencing metadata', () => {
    const dict = new PickleDict(true);
    const metadata = new PickleDict(true);
    metadata.entries.set('self', metadata);
    dict.attributes.set('_metadata', metadata);
    assert.throws(() => pickleStateDict(dict), /nested deeper than 64 levels/);
  });

  it('round trips a written state dict', () => {
    const dict = new PickleDict(true);
    const storage = new StorageRef('HalfStorage', '7', 'cpu', 12);
    dict.entries.set('fc.weight', new TensorRef(storage, 2, [2, 3], [1, 2], true, true));
    dict.entries.set('count', 2 ** 40);
    const metadata = new PickleDict(true);
    const version = new PickleDict(false);
    version.entries.set('version', 1);
    metadata.entries.set('fc', version);
    dict.attributes.set('_metadata', metadata);
    const result = unpickle(pickleStateDict(dict));
    assert.ok(result instanceof PickleDict);
    assert.equal(result.ordered, true);
    const tensor = result.entries.get('fc.weight');
    assert.ok(tensor instanceof TensorRef);
    assert.deepEqual(tensor.shape, [2, 3]);
    assert.deepEqual(tensor.strides, [1, 2]);
    assert.equal(tensor.offset, 2);
    assert.equal(tensor.isParameter, true);
    assert.equal(tensor.requiresGrad, true);
    assert.deepEqual(tensor.storage, storage);
    assert.equal(result.entries.get('count'), 2 ** 40);
    assert.deepEqual(plain(result.attributes.get('_metadata') as PickleValue), {
      fc: { version: 1 },
    });
  });
});
