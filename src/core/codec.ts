// Binary encodings of what the core persists and hands to clients: stored objects, causal
// contexts (version vectors) and storage keys. Pure byte manipulation with a bounded decoder:
// a decode of untrusted bytes either returns a well-formed value or a `DecodeError`, never a
// half-built one. Format changes get a new version byte, never a reinterpretation of old bytes.

import type { ObjectKey } from './kv.js';
import type { KvObject, Sibling } from './object.js';
import { type VersionVector, type VvEntry, vvIsWellFormed } from './version-vector.js';

const objectFormatV1 = 1;
/**
 * Format 1 plus each sibling's expiry (a float64 after lastModifiedMs, 0 = never). Written only
 * when some sibling expires, so an object without a TTL keeps exactly its format-1 bytes (the
 * same anti-entropy hashes and removeIfUnchanged comparisons as before TTL existed), and a scan
 * for expired objects can skip every format-1 object by its first byte.
 */
export const objectFormatV2 = 2;
const contextFormatV1 = 1;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export class DecodeError extends Error {
  readonly code = 'decode_error';
}

/** Strings up to this long are checked for ASCII and, if so, written without an encoder. */
const asciiInPlaceMax = 256;

/** A buffer kept for the next Writer; larger ones are not kept. */
const spareBytesMax = 64 * 1024;
let spare: { readonly buffer: Uint8Array; readonly view: DataView } | undefined;

export class Writer {
  private buffer: Uint8Array;
  private view: DataView;
  length = 0;

  /**
   * Takes the spare buffer the last finished Writer left, or a new one: every object, context and
   * key written on the request path allocated a buffer and a DataView (≈ 3 % of a busy main
   * thread). A Writer made while another is being written (nested encodes) simply gets its own.
   */
  constructor() {
    if (spare !== undefined) {
      this.buffer = spare.buffer;
      this.view = spare.view;
      spare = undefined;
    } else {
      this.buffer = new Uint8Array(256);
      this.view = new DataView(this.buffer.buffer);
    }
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + bytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  /** Unsigned LEB128 for any safe integer. */
  varint(value: number): void {
    let rest = value;
    while (rest >= 0x80) {
      this.byte((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.byte(rest);
  }

  float64(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value);
    this.length += 8;
  }

  bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  /**
   * A length-prefixed UTF-8 string. Actor ids, bucket type names and content types are ASCII:
   * those are written in place, since TextEncoder.encode allocates a fresh array for every
   * string (≈ 0.8 µs, against ≈ 0.05 µs here; a read's context alone writes three).
   */
  string(value: string): void {
    const n = value.length;
    if (n <= asciiInPlaceMax) {
      let ascii = true;
      for (let i = 0; i < n; i++) {
        if (value.charCodeAt(i) >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.varint(n);
        this.reserve(n);
        const buffer = this.buffer;
        for (let i = 0; i < n; i++) buffer[this.length + i] = value.charCodeAt(i);
        this.length += n;
        return;
      }
    }
    this.bytes(utf8Encoder.encode(value));
  }

  /** The bytes written, copied out; the buffer becomes the next Writer's (this one is done). */
  finish(): Uint8Array {
    const out = this.buffer.slice(0, this.length);
    if (spare === undefined && this.buffer.length <= spareBytesMax) spare = { buffer: this.buffer, view: this.view };
    this.length = 0;
    return out;
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new DecodeError('invalid utf-8');
  }
}

// The decoded-string cache of Reader.string: direct-mapped, each slot the bytes of one string
// (its length in internLengths; 255 marks an empty slot) and the string they decode to.
const internBytesMax = 48;
const internSlots = 512;
const internBytes = new Uint8Array(internSlots * internBytesMax);
const internLengths = new Uint8Array(internSlots).fill(255);
const internStrings: (string | undefined)[] = new Array<string | undefined>(internSlots).fill(undefined);

export class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly input: Uint8Array) {
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.input.length) throw new DecodeError('truncated input');
  }

  byte(): number {
    this.need(1);
    return this.input[this.offset++]!;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) throw new DecodeError('varint out of range');
        return value;
      }
      scale *= 0x80;
    }
    throw new DecodeError('varint too long');
  }

  float64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.offset);
    this.offset += 8;
    return value;
  }

  /** A view into the input, not a copy: decoded objects share the bytes they came from. */
  bytes(): Uint8Array {
    const length = this.varint();
    this.need(length);
    const out = this.input.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  /**
   * A length-prefixed UTF-8 string. Short ones (actor ids, content types, bucket type names:
   * the same few, over and over) come from a small cache keyed by their bytes, which saves the
   * view, the decode and the string that decoding them cost on every object read.
   */
  string(): string {
    const length = this.varint();
    this.need(length);
    const start = this.offset;
    this.offset += length;
    if (length > internBytesMax) return decodeUtf8(this.input.subarray(start, start + length));
    const input = this.input;
    let hash = length;
    for (let i = start; i < start + length; i++) hash = (Math.imul(hash, 31) + input[i]!) | 0;
    const slot = (hash ^ (hash >>> 11)) & (internSlots - 1);
    const at = slot * internBytesMax;
    if (internLengths[slot] === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (internBytes[at + i] !== input[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return internStrings[slot]!;
    }
    const text = decodeUtf8(input.subarray(start, start + length));
    internBytes.set(input.subarray(start, start + length), at);
    internLengths[slot] = length;
    internStrings[slot] = text;
    return text;
  }

  /** A count that cannot exceed the bytes left (each item takes at least one byte). */
  count(): number {
    const n = this.varint();
    if (n > this.input.length - this.offset) throw new DecodeError('count exceeds input');
    return n;
  }

  end(): void {
    if (this.offset !== this.input.length) throw new DecodeError('trailing bytes');
  }
}

function writeVv(w: Writer, vv: VersionVector): void {
  w.varint(vv.length);
  for (const entry of vv) {
    w.string(entry.actor);
    w.varint(entry.counter);
  }
}

function readVv(r: Reader): VersionVector {
  const n = r.count();
  const vv: VvEntry[] = [];
  for (let i = 0; i < n; i++) vv.push({ actor: r.string(), counter: r.varint() });
  if (!vvIsWellFormed(vv)) throw new DecodeError('malformed version vector');
  return vv;
}

export function encodeObject(object: KvObject): Uint8Array {
  const w = new Writer();
  const withExpiry = object.siblings.some((s) => s.expiresAtMs !== undefined);
  w.byte(withExpiry ? objectFormatV2 : objectFormatV1);
  writeVv(w, object.vv);
  w.varint(object.siblings.length);
  for (const s of object.siblings) {
    // A sibling's actor always appears in the vector, so it is stored as an index into it.
    const actorIndex = object.vv.findIndex((e) => e.actor === s.dot.actor);
    if (actorIndex < 0) throw new Error(`assertion failed: sibling actor ${s.dot.actor} missing from vector`);
    w.varint(actorIndex);
    w.varint(s.dot.counter);
    w.byte(s.deleted ? 1 : 0);
    w.float64(s.lastModifiedMs);
    if (withExpiry) {
      if (s.expiresAtMs !== undefined && !(s.expiresAtMs > 0)) throw new Error(`assertion failed: expiry ${s.expiresAtMs} is not positive`);
      w.float64(s.expiresAtMs ?? 0);
    }
    w.string(s.contentType);
    w.varint(s.userMeta.length);
    for (const m of s.userMeta) {
      w.string(m.key);
      w.string(m.value);
    }
    w.bytes(s.value);
  }
  return w.finish();
}

export function decodeObject(input: Uint8Array): KvObject {
  const r = new Reader(input);
  const format = r.byte();
  if (format !== objectFormatV1 && format !== objectFormatV2) throw new DecodeError('unknown object format');
  const vv = readVv(r);
  const n = r.count();
  const siblings: Sibling[] = [];
  for (let i = 0; i < n; i++) {
    const entry = vv[r.varint()];
    if (entry === undefined) throw new DecodeError('sibling actor index out of range');
    const counter = r.varint();
    if (counter < 1 || counter > entry.counter) throw new DecodeError('sibling dot not covered by vector');
    const deleted = r.byte() === 1;
    const lastModifiedMs = r.float64();
    const expiresAtMs = format === objectFormatV2 ? r.float64() : 0;
    if (!(expiresAtMs >= 0)) throw new DecodeError('negative or invalid expiry');
    const contentType = r.string();
    const metaCount = r.count();
    const userMeta: { key: string; value: string }[] = [];
    for (let j = 0; j < metaCount; j++) userMeta.push({ key: r.string(), value: r.string() });
    const previous = siblings[siblings.length - 1]?.dot;
    if (previous !== undefined && (previous.actor > entry.actor || (previous.actor === entry.actor && previous.counter >= counter))) {
      throw new DecodeError('siblings out of order or duplicated');
    }
    const expiry = expiresAtMs > 0 ? { expiresAtMs } : {};
    siblings.push({ dot: { actor: entry.actor, counter }, deleted, lastModifiedMs, ...expiry, contentType, userMeta, value: r.bytes() });
  }
  r.end();
  return { siblings, vv };
}

/** A causal context as clients carry it: opaque bytes holding a version vector. */
export function encodeContext(vv: VersionVector): Uint8Array {
  const w = new Writer();
  w.byte(contextFormatV1);
  writeVv(w, vv);
  return w.finish();
}

export function decodeContext(input: Uint8Array): VersionVector {
  const r = new Reader(input);
  if (r.byte() !== contextFormatV1) throw new DecodeError('unknown context format');
  const vv = readVv(r);
  r.end();
  return vv;
}

/** The storage key of an object: type, bucket and key, length-prefixed so no two collide. */
export function encodeStorageKey(key: ObjectKey): Uint8Array {
  const w = new Writer();
  w.string(key.type);
  w.bytes(key.bucket);
  w.bytes(key.key);
  return w.finish();
}

export function decodeStorageKey(input: Uint8Array): ObjectKey {
  const r = new Reader(input);
  const key = { type: r.string(), bucket: r.bytes(), key: r.bytes() };
  r.end();
  return key;
}
