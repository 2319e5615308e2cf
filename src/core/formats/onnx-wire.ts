/**
 * Field-level access to protobuf wire data, so that the ONNX writer can replace a few fields of
 * a ModelProto and copy every other byte unchanged (wire format:
 * https://protobuf.dev/programming-guides/encoding/).
 */
import { Reader, Writer } from 'protobufjs';

/** Wire type of length-delimited fields (bytes, strings, sub-messages, packed arrays). */
export const lengthDelimited = 2;

/** One field entry of a message: its number, wire type and byte range. */
export interface FieldSpan {
  field: number;
  wireType: number;
  /** Offset of the tag. */
  start: number;
  /** Offset just past the entry. */
  end: number;
  /** Offset of the payload of a length-delimited entry (the value itself otherwise). */
  valueStart: number;
}

/**
 * Lists the field entries of one message in file order. Throws RangeError when the bytes are
 * truncated or are not protobuf.
 */
export function listFields(message: Uint8Array): FieldSpan[] {
  const reader = Reader.create(message);
  const spans: FieldSpan[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 0) throw new RangeError(`invalid field number 0 at byte ${start}`);
    let valueStart = reader.pos;
    if (wireType === lengthDelimited) {
      const length = reader.uint32();
      valueStart = reader.pos;
      if (valueStart + length > reader.len) {
        throw new RangeError(`field ${field} at byte ${start} runs past the end`);
      }
      reader.pos = valueStart + length;
    } else {
      reader.skipType(wireType);
    }
    spans.push({ field, wireType, start, end: reader.pos, valueStart });
  }
  return spans;
}

/** Returns the payload of a length-delimited entry. */
export function payloadOf(message: Uint8Array, span: FieldSpan): Uint8Array {
  return message.subarray(span.valueStart, span.end);
}

/** Returns the length-delimited entries with one field number, in order. */
export function fieldsNumbered(message: Uint8Array, field: number): FieldSpan[] {
  return listFields(message).filter(
    (span) => span.field === field && span.wireType === lengthDelimited,
  );
}

/** Encodes one length-delimited entry (a sub-message, bytes or a packed array). */
export function encodeBytesField(field: number, payload: Uint8Array): Uint8Array {
  return Writer.create()
    .uint32((field << 3) | lengthDelimited)
    .bytes(payload)
    .finish();
}

/**
 * Encodes one length-delimited entry as parts: its tag and length, then the payload's parts,
 * so that a large payload is not copied until the whole message is joined or written.
 */
export function bytesField(field: number, payload: Uint8Array | Uint8Array[]): Uint8Array[] {
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const header = Writer.create()
    .uint32((field << 3) | lengthDelimited)
    .uint32(length)
    .finish();
  return [header, ...parts];
}

/** Encodes one string entry. */
export function encodeStringField(field: number, value: string): Uint8Array {
  return Writer.create()
    .uint32((field << 3) | lengthDelimited)
    .string(value)
    .finish();
}

/** Encodes one varint entry (int32, int64 or enum). */
export function encodeVarintField(field: number, value: number): Uint8Array {
  return Writer.create()
    .uint32(field << 3)
    .int64(value)
    .finish();
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const result = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

/** A replacement of the bytes `[start, end)` of a message; `start === end` inserts. */
export interface ByteEdit {
  start: number;
  end: number;
  /** New bytes, as one array or as parts in order. */
  bytes: Uint8Array | readonly Uint8Array[];
}

/** Applies non-overlapping edits to a message and returns the new bytes. */
export function applyEdits(message: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  return concatBytes(editedParts(message, edits));
}

/** Applies non-overlapping edits to a message and returns the new bytes as parts, not joined. */
export function editedParts(message: Uint8Array, edits: readonly ByteEdit[]): Uint8Array[] {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  const parts: Uint8Array[] = [];
  let position = 0;
  for (const edit of sorted) {
    if (edit.start < position) throw new Error('overlapping protobuf edits');
    parts.push(message.subarray(position, edit.start));
    if (edit.bytes instanceof Uint8Array) parts.push(edit.bytes);
    else parts.push(...edit.bytes);
    position = edit.end;
  }
  parts.push(message.subarray(position));
  return parts;
}

/**
 * Drops the entries that `drop` selects and puts `insert` where the first dropped entry was, or
 * at the end of the message when nothing was dropped. Every other byte is kept.
 */
export function replaceFields(
  message: Uint8Array,
  drop: (span: FieldSpan) => boolean,
  insert: readonly Uint8Array[],
): Uint8Array {
  return concatBytes(replacedParts(message, drop, insert));
}

/** Replaces fields as `replaceFields` does and returns the new message as parts, not joined. */
export function replacedParts(
  message: Uint8Array,
  drop: (span: FieldSpan) => boolean,
  insert: readonly Uint8Array[],
): Uint8Array[] {
  const dropped = listFields(message).filter(drop);
  const at = dropped.length > 0 ? dropped[0].start : message.length;
  const edits: ByteEdit[] = dropped.map((span) => ({
    start: span.start,
    end: span.end,
    bytes: new Uint8Array(),
  }));
  edits.push({ start: at, end: at, bytes: insert });
  return editedParts(message, edits);
}
