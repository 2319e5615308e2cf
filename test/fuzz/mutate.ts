/** Deterministic byte mutations for fuzzing: bit flips, inserts, deletes, length edits, splices. */
import { mulberry32 } from '../../src/core/compute/statistics';

/** A seeded uniform generator in [0, 1): the engine's mulberry32, so fuzz runs repeat exactly. */
export const seededRandom = mulberry32;

type Random = () => number;

const interestingBytes = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x2e, 0x5b, 0x7b];
const interestingLengths = [0, 1, 0x7f, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0x10000000];

function pick(random: Random, count: number): number {
  return Math.floor(random() * count);
}

/** Position biased towards the first bytes, where headers and length fields live. */
function position(random: Random, length: number): number {
  if (length === 0) return 0;
  return random() < 0.6 ? pick(random, Math.min(length, 256)) : pick(random, length);
}

function flipBits(bytes: Uint8Array, random: Random): Uint8Array {
  const out = bytes.slice();
  const flips = 1 + pick(random, 4);
  for (let i = 0; i < flips && out.length > 0; i++) out[position(random, out.length)] ^= 1 << pick(random, 8);
  return out;
}

function setByte(bytes: Uint8Array, random: Random): Uint8Array {
  const out = bytes.slice();
  if (out.length > 0) out[position(random, out.length)] = interestingBytes[pick(random, interestingBytes.length)];
  return out;
}

function insertBytes(bytes: Uint8Array, random: Random): Uint8Array {
  const at = position(random, bytes.length + 1);
  const inserted = Uint8Array.from({ length: 1 + pick(random, 16) }, () => pick(random, 256));
  return concat(bytes.subarray(0, at), inserted, bytes.subarray(at));
}

function deleteBytes(bytes: Uint8Array, random: Random): Uint8Array {
  const at = position(random, bytes.length);
  const count = 1 + pick(random, 16);
  return concat(bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + count)));
}

function truncate(bytes: Uint8Array, random: Random): Uint8Array {
  return bytes.slice(0, pick(random, bytes.length));
}

/** Overwrites a 1, 2, 4 or 8 byte field with a length-like value, little- or big-endian. */
function editLength(bytes: Uint8Array, random: Random): Uint8Array {
  const out = bytes.slice();
  const width = [1, 2, 4, 8][pick(random, 4)];
  if (out.length < width) return out;
  const at = Math.min(position(random, out.length), out.length - width);
  const base = interestingLengths[pick(random, interestingLengths.length)];
  const value = BigInt(random() < 0.5 ? base : Math.max(0, base + pick(random, 5) - 2));
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const littleEndian = random() < 0.5;
  if (width === 1) view.setUint8(at, Number(value & 0xffn));
  else if (width === 2) view.setUint16(at, Number(value & 0xffffn), littleEndian);
  else if (width === 4) view.setUint32(at, Number(value & 0xffffffffn), littleEndian);
  else view.setBigUint64(at, value, littleEndian);
  return out;
}

function splice(bytes: Uint8Array, random: Random, donor: Uint8Array): Uint8Array {
  if (donor.length === 0) return bytes.slice();
  const from = pick(random, donor.length);
  const chunk = donor.subarray(from, from + 1 + pick(random, 64));
  const at = position(random, bytes.length);
  return random() < 0.5
    ? concat(bytes.subarray(0, at), chunk, bytes.subarray(at))
    : concat(bytes.subarray(0, at), chunk, bytes.subarray(Math.min(bytes.length, at + chunk.length)));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Names of the mutations, in the order `mutate` draws them. */
export const mutationNames = ['flip', 'set', 'insert', 'delete', 'truncate', 'length', 'splice'] as const;

/** Applies one to three random mutations; `donor` feeds splices. */
export function mutate(bytes: Uint8Array, random: Random, donor: Uint8Array): Uint8Array {
  let out = bytes;
  const rounds = 1 + pick(random, 3);
  for (let round = 0; round < rounds; round++) {
    switch (mutationNames[pick(random, mutationNames.length)]) {
      case 'flip': out = flipBits(out, random); break;
      case 'set': out = setByte(out, random); break;
      case 'insert': out = insertBytes(out, random); break;
      case 'delete': out = deleteBytes(out, random); break;
      case 'truncate': out = truncate(out, random); break;
      case 'length': out = editLength(out, random); break;
      case 'splice': out = splice(out, random, donor); break;
    }
  }
  return out;
}
