// Cuts Redis-protocol (RESP2) requests off the front of a connection's buffer: arrays of bulk
// strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what client libraries send) and inline commands
// (`PING\r\n`, what telnet sends). Every announced size is checked against its limit from the
// header, before any of it is buffered. It knows nothing of commands; it only frames them.

import { assert } from '../../core/errors.js';
import type { ParseResult } from '../wire/tcp-front-end.js';
import { emptyReply, errorReply } from './reply.js';

export interface RespParserLimits {
  /** The whole frame, headers and payloads together (the node's maxRequestBodyBytes). */
  readonly maxFrameBytes: number;
  /** Elements of one request array (Redis's own limit is 1024*1024). */
  readonly maxArrayElements: number;
  /** A header line or an inline command without its CRLF (Redis's own limit is 64 KiB). */
  readonly maxLineBytes: number;
}

export const defaultMaxArrayElements = 1024 * 1024;
export const defaultMaxLineBytes = 64 * 1024;

/** One command: its name and arguments, as binary-safe copies owned by the request. */
export interface RespCommand {
  readonly args: readonly Buffer[];
}

const star = 0x2a;
const dollar = 0x24;
const cr = 0x0d;
const lf = 0x0a;
/** The smallest array element, `$0\r\n\r\n`: an array header can be checked against the frame limit. */
const minElementBytes = 6;

type Line = { readonly kind: 'line'; readonly contentEnd: number; readonly next: number; readonly crlf: boolean } | { readonly kind: 'incomplete' } | { readonly kind: 'too long' };

export function checkParserLimits(limits: RespParserLimits): void {
  assert(Number.isSafeInteger(limits.maxFrameBytes) && limits.maxFrameBytes >= minElementBytes, 'maxFrameBytes is an integer of at least 6');
  assert(Number.isSafeInteger(limits.maxArrayElements) && limits.maxArrayElements >= 1, 'maxArrayElements is a positive integer');
  assert(Number.isSafeInteger(limits.maxLineBytes) && limits.maxLineBytes >= 16, 'maxLineBytes is an integer of at least 16');
}

/** The next request in `buffer`, as the TCP front end asks of a protocol. */
export function parseRespFrame(buffer: Buffer, limits: RespParserLimits): ParseResult<RespCommand> {
  return buffer[0] === star ? parseArray(buffer, limits) : parseInline(buffer, limits);
}

/** A protocol error: the frame boundary is lost, so it is answered and the connection closed. */
function fatal(message: string): ParseResult<RespCommand> {
  return { kind: 'error', reply: errorReply(`ERR Protocol error: ${message}`) };
}

/** A frame Redis ignores without a reply (an empty line, `*0`, `*-1`): dropped, nothing sent. */
function ignored(bytes: number): ParseResult<RespCommand> {
  return { kind: 'error', reply: emptyReply, bytes };
}

/** Finds the line starting at `start`, looking no further than the line limit allows. */
function readLine(buffer: Buffer, start: number, maxLineBytes: number): Line {
  const window = buffer.subarray(start, Math.min(buffer.length, start + maxLineBytes + 2));
  const newline = window.indexOf(lf);
  if (newline < 0) return window.length >= maxLineBytes + 2 ? { kind: 'too long' } : { kind: 'incomplete' };
  const crlf = newline > 0 && window[newline - 1] === cr;
  const contentBytes = crlf ? newline - 1 : newline;
  if (contentBytes > maxLineBytes) return { kind: 'too long' };
  return { kind: 'line', contentEnd: start + contentBytes, next: start + newline + 1, crlf };
}

/**
 * A decimal integer in `buffer[start, end)`, or undefined when it is not one. More digits than a
 * safe integer holds read as Infinity: over every limit, which is what the caller checks next.
 */
function readInteger(buffer: Buffer, start: number, end: number): number | undefined {
  const text = buffer.toString('latin1', start, end);
  if (!/^-?\d+$/.test(text)) return undefined;
  const value = Number(text);
  if (Number.isSafeInteger(value)) return value;
  return text.startsWith('-') ? undefined : Infinity;
}

function shown(buffer: Buffer, start: number, end: number): string {
  const text = buffer.toString('latin1', start, Math.min(end, start + 24));
  return end - start > 24 ? `${text}...` : text;
}

function parseArray(buffer: Buffer, limits: RespParserLimits): ParseResult<RespCommand> {
  const header = readLine(buffer, 0, limits.maxLineBytes);
  if (header.kind === 'incomplete') return header;
  if (header.kind === 'too long') return fatal(`too big mbulk count string (over ${limits.maxLineBytes} bytes without CRLF)`);
  const count = header.crlf ? readInteger(buffer, 1, header.contentEnd) : undefined;
  if (count === undefined) return fatal('invalid multibulk length');
  if (count <= 0) return ignored(header.next);
  if (count > limits.maxArrayElements) return fatal(`multibulk length ${shown(buffer, 1, header.contentEnd)} is over the limit of ${limits.maxArrayElements} elements`);
  if (header.next + count * minElementBytes > limits.maxFrameBytes) {
    return fatal(`a multibulk of ${count} elements cannot fit in the request limit of ${limits.maxFrameBytes} bytes`);
  }
  // Offsets first, copies once the whole frame is here. A frame waiting for a bulk string's data
  // says how many bytes it needs, so it is not parsed again on every chunk.
  const bounds: number[] = [];
  let position = header.next;
  for (let index = 0; index < count; index++) {
    if (position >= buffer.length) return { kind: 'incomplete' };
    if (buffer[position] !== dollar) return fatal(`expected '$', got '${shown(buffer, position, position + 1)}'`);
    const line = readLine(buffer, position, limits.maxLineBytes);
    if (line.kind === 'incomplete') return line;
    if (line.kind === 'too long') return fatal(`too big bulk count string (over ${limits.maxLineBytes} bytes without CRLF)`);
    const length = line.crlf ? readInteger(buffer, position + 1, line.contentEnd) : undefined;
    if (length === undefined || length < 0) return fatal('invalid bulk length');
    if (length > limits.maxFrameBytes) return fatal(`bulk length ${shown(buffer, position + 1, line.contentEnd)} is over the request limit of ${limits.maxFrameBytes} bytes`);
    const end = line.next + length;
    if (end + 2 + (count - index - 1) * minElementBytes > limits.maxFrameBytes) {
      return fatal(`the request is over the limit of ${limits.maxFrameBytes} bytes`);
    }
    // The bytes still to come are known: the connection gathers them before parsing again.
    if (buffer.length < end + 2) return { kind: 'incomplete', needBytes: end + 2 + (count - index - 1) * minElementBytes };
    if (buffer[end] !== cr || buffer[end + 1] !== lf) return fatal('expected CRLF after bulk data');
    bounds.push(line.next, end);
    position = end + 2;
  }
  const args: Buffer[] = [];
  for (let i = 0; i < bounds.length; i += 2) args.push(Buffer.from(buffer.subarray(bounds[i]!, bounds[i + 1]!)));
  return { kind: 'frame', request: { args }, bytes: position };
}

function parseInline(buffer: Buffer, limits: RespParserLimits): ParseResult<RespCommand> {
  const line = readLine(buffer, 0, limits.maxLineBytes);
  if (line.kind === 'incomplete') return line;
  if (line.kind === 'too long') return fatal(`too big inline request (over ${limits.maxLineBytes} bytes without a newline)`);
  const args = splitInlineArgs(buffer.subarray(0, line.contentEnd));
  if (args === undefined) return fatal('unbalanced quotes in request');
  if (args.length === 0) return ignored(line.next);
  return { kind: 'frame', request: { args }, bytes: line.next };
}

const isSpace = (byte: number | undefined): boolean => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;
const isHex = (byte: number | undefined): boolean => byte !== undefined && /^[0-9a-fA-F]$/.test(String.fromCharCode(byte));
const escapes: Readonly<Record<string, number>> = { n: 0x0a, r: 0x0d, t: 0x09, b: 0x08, a: 0x07 };

/**
 * Splits an inline command into words as Redis does (sdssplitargs): whitespace separates words;
 * "double quotes" take \n \r \t \b \a \xHH and \" escapes; 'single quotes' take \'. A closing
 * quote must be followed by whitespace. Undefined for unbalanced quotes.
 */
export function splitInlineArgs(line: Buffer): Buffer[] | undefined {
  const args: Buffer[] = [];
  let i = 0;
  while (true) {
    while (i < line.length && isSpace(line[i])) i++;
    if (i >= line.length) return args;
    const word: number[] = [];
    const quote = line[i] === 0x22 || line[i] === 0x27 ? line[i]! : undefined;
    if (quote !== undefined) i++;
    let closed = quote === undefined;
    while (i < line.length) {
      const byte = line[i]!;
      if (quote === undefined) {
        if (isSpace(byte)) break;
        word.push(byte);
        i++;
      } else if (byte === 0x5c && quote === 0x22 && line[i + 1] === 0x78 && isHex(line[i + 2]) && isHex(line[i + 3])) {
        word.push(parseInt(line.toString('latin1', i + 2, i + 4), 16));
        i += 4;
      } else if (byte === 0x5c && i + 1 < line.length && (quote === 0x22 || line[i + 1] === 0x27)) {
        const next = String.fromCharCode(line[i + 1]!);
        word.push(quote === 0x22 ? (escapes[next] ?? line[i + 1]!) : line[i + 1]!);
        i += 2;
      } else if (byte === quote) {
        if (i + 1 < line.length && !isSpace(line[i + 1])) return undefined;
        closed = true;
        i++;
        break;
      } else {
        word.push(byte);
        i++;
      }
    }
    if (!closed) return undefined;
    args.push(Buffer.from(word));
  }
}
