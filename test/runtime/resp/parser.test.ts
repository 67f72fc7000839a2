// The RESP2 parser on its own: arrays of bulk strings and inline commands, frames split at every
// byte boundary, and every limit enforced from the header, before the payload it announces is
// buffered. Bad framing is fatal (no `bytes`): the TCP front end answers it and closes.

import test from 'ava';
import type { ParseResult } from '../../../src/runtime/wire/tcp-front-end.js';
import {
  type RespCommand,
  type RespParserLimits,
  defaultMaxArrayElements,
  defaultMaxLineBytes,
  parseRespFrame,
  splitInlineArgs,
} from '../../../src/runtime/resp/parser.js';

const limits: RespParserLimits = { maxFrameBytes: 1024, maxArrayElements: defaultMaxArrayElements, maxLineBytes: defaultMaxLineBytes };
const parse = (text: string | Buffer, overrides: Partial<RespParserLimits> = {}): ParseResult<RespCommand> =>
  parseRespFrame(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, { ...limits, ...overrides });
const words = (result: ParseResult<RespCommand>): string[] => {
  if (result.kind !== 'frame') throw new Error(`expected a frame, got ${JSON.stringify(result)}`);
  return result.request.args.map((arg) => arg.toString('latin1'));
};
const replyOf = (result: ParseResult<RespCommand>): string => (result.kind === 'error' ? Buffer.from(result.reply).toString() : `not an error: ${result.kind}`);

/** Feeds chunks as the TCP front end does: append, then cut off every whole frame. */
function drive(chunks: readonly Buffer[], parserLimits: RespParserLimits = limits): { commands: string[][]; replies: string[] } {
  let buffer = Buffer.alloc(0);
  const commands: string[][] = [];
  const replies: string[] = [];
  for (const chunk of chunks) {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length > 0) {
      const result = parseRespFrame(buffer, parserLimits);
      if (result.kind === 'incomplete') break;
      if (result.kind === 'error') {
        replies.push(Buffer.from(result.reply).toString());
        if (result.bytes === undefined) return { commands, replies };
        buffer = buffer.subarray(result.bytes);
        continue;
      }
      commands.push(result.request.args.map((arg) => arg.toString('latin1')));
      buffer = buffer.subarray(result.bytes);
    }
  }
  return { commands, replies };
}

test('an array of bulk strings is one command; the frame length is exact', (t) => {
  const result = parse('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n');
  t.deepEqual(words(result), ['SET', 'k', 'hello']);
  t.is(result.kind === 'frame' ? result.bytes : -1, 31);
});

test('bulk strings are binary safe: CR, LF and NUL inside a value are data', (t) => {
  const value = Buffer.from([0, 13, 10, 255, 42, 13, 10]);
  const frame = Buffer.concat([Buffer.from(`*2\r\n$3\r\nGET\r\n$${value.length}\r\n`), value, Buffer.from('\r\n')]);
  const result = parse(frame);
  t.is(result.kind, 'frame');
  if (result.kind === 'frame') t.deepEqual(result.request.args[1], value);
});

test('arguments are copies: the connection buffer can be reused after parsing', (t) => {
  const buffer = Buffer.from('*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n');
  const result = parseRespFrame(buffer, limits);
  buffer.fill(0);
  t.deepEqual(words(result), ['GET', 'abc']);
});

test('inline commands: CRLF or LF alone, runs of whitespace, quotes and escapes', (t) => {
  t.deepEqual(words(parse('PING\r\n')), ['PING']);
  t.deepEqual(words(parse('set  k\tv\n')), ['set', 'k', 'v']);
  t.deepEqual(words(parse(`SET "a b" 'c d' "x\\x41\\n\\"y"\r\n`)), ['SET', 'a b', 'c d', 'xA\n"y']);
  t.deepEqual(words(parse(`SET k 'it\\'s'\r\n`)), ['SET', 'k', "it's"]);
  t.deepEqual(splitInlineArgs(Buffer.from('""')), [Buffer.alloc(0)]);
});

test('empty inline lines and empty arrays are dropped without a reply, as Redis does', (t) => {
  for (const frame of ['\r\n', '   \n', '*0\r\n', '*-1\r\n']) {
    const result = parse(frame);
    t.is(result.kind, 'error', frame);
    if (result.kind === 'error') {
      t.is(result.reply.length, 0);
      t.is(result.bytes, frame.length);
    }
  }
});

test('an incomplete frame asks for more bytes', (t) => {
  for (const partial of ['*', '*2', '*2\r\n', '*2\r\n$3\r\nGE', '*2\r\n$3\r\nGET\r\n$1\r\nk', '*2\r\n$3\r\nGET\r\n$1\r\nk\r', 'PIN']) {
    t.is(parse(partial).kind, 'incomplete', JSON.stringify(partial));
  }
});

test('pipelined frames split at every byte boundary, and sent a byte at a time, parse the same', (t) => {
  const value = Buffer.from([13, 10, 0, 36, 42]);
  const stream = Buffer.concat([
    Buffer.from('*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n'),
    Buffer.from('GET inline\r\n'),
    Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${value.length}\r\n`),
    value,
    Buffer.from('\r\n\r\n*0\r\nECHO "x y"\n*1\r\n$0\r\n\r\n'),
  ]);
  const expected = [['PING', 'hi'], ['GET', 'inline'], ['SET', 'k', value.toString('latin1')], ['ECHO', 'x y'], ['']];
  for (let split = 1; split < stream.length; split++) {
    const { commands, replies } = drive([stream.subarray(0, split), stream.subarray(split)]);
    t.deepEqual(commands, expected, `split at ${split}`);
    t.deepEqual(replies.filter((reply) => reply !== ''), []);
  }
  const oneByOne = drive([...stream].map((byte) => Buffer.from([byte])));
  t.deepEqual(oneByOne.commands, expected);
});

test('a bulk length over the frame limit is rejected from its header, before the payload', (t) => {
  const huge = parse('*2\r\n$3\r\nSET\r\n$999999999999\r\n');
  t.is(huge.kind, 'error');
  if (huge.kind === 'error') t.is(huge.bytes, undefined, 'fatal: the connection closes');
  t.regex(replyOf(huge), /^-ERR Protocol error: bulk length 999999999999 is over the request limit of 1024 bytes\r\n$/);
  // Just over the limit, with nothing of the payload sent.
  t.regex(replyOf(parse('*1\r\n$1025\r\n')), /bulk length 1025 is over/);
  // More digits than a number holds is still just too large.
  t.regex(replyOf(parse(`*1\r\n$${'9'.repeat(40)}\r\n`)), /bulk length 9{24}\.\.\. is over/);
});

test('the frame limit bounds the whole request, not only each bulk string', (t) => {
  const two = (n: number): string => `*3\r\n$3\r\nSET\r\n$${n}\r\n`;
  t.is(parse(two(500)).kind, 'incomplete');
  const over = parse(`${two(500)}${'a'.repeat(500)}\r\n$600\r\n`);
  t.regex(replyOf(over), /the request is over the limit of 1024 bytes/);
  // An array announcing more elements than can fit in the limit is refused from its header.
  t.regex(replyOf(parse('*200\r\n')), /a multibulk of 200 elements cannot fit in the request limit of 1024 bytes/);
  // Exactly at the limit is accepted.
  const header = '*1\r\n$1011\r\n';
  const exact = parse(`${header}${'b'.repeat(1011)}\r\n`);
  t.is(exact.kind === 'frame' ? exact.bytes : -1, 1024);
});

test('an array over maxArrayElements is rejected from its header (default 1024*1024)', (t) => {
  const big = { maxFrameBytes: 512 * 1024 * 1024 };
  t.is(parse(`*${defaultMaxArrayElements}\r\n`, big).kind, 'incomplete');
  t.regex(replyOf(parse(`*${defaultMaxArrayElements + 1}\r\n`, big)), /multibulk length 1048577 is over the limit of 1048576 elements/);
  t.regex(replyOf(parse('*5\r\n', { maxArrayElements: 4 })), /over the limit of 4 elements/);
  t.is(parse('*4\r\n', { maxArrayElements: 4 }).kind, 'incomplete');
});

test('a line over maxLineBytes without CRLF is fatal (default 64 KiB), inline or header', (t) => {
  t.is(defaultMaxLineBytes, 64 * 1024);
  t.regex(replyOf(parse('x'.repeat(defaultMaxLineBytes + 2))), /too big inline request/);
  t.is(parse('x'.repeat(defaultMaxLineBytes + 1)).kind, 'incomplete', 'could still end in CRLF');
  t.deepEqual(words(parse(`${'x'.repeat(defaultMaxLineBytes)}\r\n`)), ['x'.repeat(defaultMaxLineBytes)]);
  t.regex(replyOf(parse(`*${'1'.repeat(70_000)}`)), /too big mbulk count string/);
  t.regex(replyOf(parse(`*1\r\n$${'1'.repeat(70_000)}`)), /too big bulk count string/);
  t.regex(replyOf(parse('y'.repeat(17) + '\r\n', { maxLineBytes: 16 })), /too big inline request \(over 16 bytes/);
  t.deepEqual(words(parse('y'.repeat(16) + '\r\n', { maxLineBytes: 16 })), ['y'.repeat(16)]);
});

test('bad framing is a fatal protocol error', (t) => {
  const cases: ReadonlyArray<readonly [string, RegExp]> = [
    ['*x\r\n', /invalid multibulk length/],
    ['*2\n', /invalid multibulk length/],
    ['*1\r\nfoo\r\n', /expected '\$', got 'f'/],
    ['*1\r\n$x\r\n', /invalid bulk length/],
    ['*1\r\n$-1\r\n', /invalid bulk length/],
    ['*1\r\n$3\r\nabcXY', /expected CRLF after bulk data/],
    ['SET "a b\r\n', /unbalanced quotes/],
    ['SET "a"b\r\n', /unbalanced quotes/],
  ];
  for (const [frame, message] of cases) {
    const result = parse(frame);
    t.is(result.kind, 'error', frame);
    if (result.kind === 'error') t.is(result.bytes, undefined, frame);
    t.regex(replyOf(result), /^-ERR Protocol error: /);
    t.regex(replyOf(result), message, frame);
  }
});
