// The protobuf frame codec on its own: requests cut correctly however the bytes are split, a
// too-long or zero length refused from the header alone, and a bad code or body answered with
// RpbErrorResp while the frame boundary stays intact.

import test from 'ava';
import { type PbRequest, encodeFrame, errorFrame, parseFrame } from '../../../src/runtime/pb/frame.js';
import { MessageCode, decodeMessage, encodeMessage } from '../../../src/runtime/pb/schema.js';
import type { ParseResult } from '../../../src/runtime/wire/tcp-front-end.js';

const maxFrameBytes = 1024;
const b = (text: string): Buffer => Buffer.from(text);

/** Parses as the TCP machinery does: cut every whole frame off the front, keep the rest. */
function parseAll(buffer: Buffer, out: Array<ParseResult<PbRequest>>): Buffer {
  for (;;) {
    if (buffer.length === 0) return buffer;
    const result = parseFrame(buffer, maxFrameBytes);
    if (result.kind === 'incomplete') return buffer;
    out.push(result);
    if (result.kind === 'error' && result.bytes === undefined) return Buffer.alloc(0);
    buffer = buffer.subarray(result.kind === 'frame' ? result.bytes : result.bytes!);
  }
}

function errmsgOf(reply: Uint8Array): string {
  const frame = Buffer.from(reply);
  if (frame[4] !== MessageCode.ErrorResp) throw new Error(`not an error frame: code ${frame[4]}`);
  return String((decodeMessage('RpbErrorResp', frame.subarray(5)) as { errmsg: Buffer }).errmsg);
}

test('the documented example frame is a get of bucket "b", key "k"', (t) => {
  const result = parseFrame(Buffer.from('00000007090a016212016b', 'hex'), maxFrameBytes);
  t.is(result.kind, 'frame');
  if (result.kind !== 'frame') return;
  t.is(result.bytes, 11);
  t.is(result.request.kind, 'get');
  if (result.request.kind !== 'get') return;
  t.is(String(result.request.message.bucket), 'b');
  t.is(String(result.request.message.key), 'k');
  t.is(result.request.message.r, undefined, 'absent fields stay absent');
});

test('a stream of frames split at every byte boundary parses to the same requests', (t) => {
  const stream = Buffer.concat([
    encodeFrame(MessageCode.PingReq),
    encodeFrame(MessageCode.PutReq, encodeMessage('RpbPutReq', { bucket: b('bkt'), key: b('key'), content: { value: b('a value') }, w: 4294967293 })),
    encodeFrame(MessageCode.GetServerInfoReq),
    encodeFrame(MessageCode.DelReq, encodeMessage('RpbDelReq', { bucket: b('bkt'), key: b('key') })),
  ]);
  const whole: Array<ParseResult<PbRequest>> = [];
  t.is(parseAll(stream, whole).length, 0);
  t.deepEqual(
    whole.map((r) => (r.kind === 'frame' ? r.request.kind : r.kind)),
    ['ping', 'put', 'server_info', 'delete'],
  );
  for (let split = 1; split < stream.length; split++) {
    const parsed: Array<ParseResult<PbRequest>> = [];
    const rest = parseAll(stream.subarray(0, split), parsed);
    t.is(parseAll(Buffer.concat([rest, stream.subarray(split)]), parsed).length, 0);
    t.deepEqual(parsed, whole, `split at byte ${split}`);
  }
});

test('a length over maxFrameBytes is refused from the 4-byte header alone, and the connection is to close', (t) => {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(maxFrameBytes + 1);
  const result = parseFrame(header, maxFrameBytes);
  t.is(result.kind, 'error');
  if (result.kind !== 'error') return;
  t.is(result.bytes, undefined);
  t.regex(errmsgOf(result.reply), /frame of 1025 bytes is over the limit of 1024 bytes/);
});

test('an incomplete frame says how many bytes it needs, so the connection need not re-parse every chunk', (t) => {
  const frame = encodeFrame(MessageCode.PingReq);
  t.deepEqual(parseFrame(frame.subarray(0, 3), maxFrameBytes), { kind: 'incomplete' });
  t.deepEqual(parseFrame(Buffer.from('0000000a09', 'hex'), maxFrameBytes), { kind: 'incomplete', needBytes: 14 });
});

test('a frame of exactly maxFrameBytes is accepted', (t) => {
  const frameOf = (valueBytes: number): Buffer => encodeFrame(MessageCode.PutReq, encodeMessage('RpbPutReq', { bucket: b('b'), key: b('k'), content: { value: Buffer.alloc(valueBytes) } }));
  let valueBytes = maxFrameBytes;
  while (frameOf(valueBytes).readUInt32BE(0) > maxFrameBytes) valueBytes--;
  const frame = frameOf(valueBytes);
  t.is(frame.readUInt32BE(0), maxFrameBytes);
  t.is(parseFrame(frame, maxFrameBytes).kind, 'frame');
});

test('a length of 0 is a framing error: answered, then the connection closes', (t) => {
  const result = parseFrame(Buffer.from('00000000', 'hex'), maxFrameBytes);
  t.is(result.kind, 'error');
  if (result.kind !== 'error') return;
  t.is(result.bytes, undefined);
  t.regex(errmsgOf(result.reply), /length 0/);
});

test('an unknown message code is answered with RpbErrorResp and the next frame still parses', (t) => {
  const parsed: Array<ParseResult<PbRequest>> = [];
  parseAll(Buffer.concat([encodeFrame(200, b('whatever')), encodeFrame(MessageCode.PingReq)]), parsed);
  t.is(parsed.length, 2);
  const [first, second] = parsed;
  t.true(first!.kind === 'error' && first.bytes === 13);
  if (first!.kind === 'error') t.is(errmsgOf(first.reply), 'ringkv: unknown or unsupported message code 200');
  t.true(second!.kind === 'frame' && second.request.kind === 'ping');
});

test('an undecodable body is answered with RpbErrorResp naming the message, boundary intact', (t) => {
  const parsed: Array<ParseResult<PbRequest>> = [];
  parseAll(Buffer.concat([encodeFrame(MessageCode.GetReq, Buffer.from([0xff, 0xff, 0xff])), encodeFrame(MessageCode.PingReq)]), parsed);
  t.is(parsed.length, 2);
  const [first, second] = parsed;
  t.true(first!.kind === 'error' && first.bytes !== undefined);
  if (first!.kind === 'error') t.regex(errmsgOf(first.reply), /^ringkv: cannot decode RpbGetReq \(message code 9\): /);
  t.true(second!.kind === 'frame' && second.request.kind === 'ping');
});

test('a request missing a required field is undecodable', (t) => {
  const result = parseFrame(encodeFrame(MessageCode.GetReq, Buffer.from('0a0162', 'hex')), maxFrameBytes);
  t.true(result.kind === 'error' && result.bytes !== undefined);
  if (result.kind === 'error') t.regex(errmsgOf(result.reply), /missing required 'key'/);
});

test('security requests are recognised and refused with a reason', (t) => {
  for (const code of [MessageCode.AuthReq, MessageCode.StartTls]) {
    const result = parseFrame(encodeFrame(code, b('ignored')), maxFrameBytes);
    t.true(result.kind === 'frame' && result.request.kind === 'not_available', `code ${code}`);
  }
});

test('data-type requests decode into their own kinds', (t) => {
  const fetch = parseFrame(encodeFrame(MessageCode.DtFetchReq, encodeMessage('DtFetchReq', { bucket: b('b'), key: b('k'), type: b('counters') })), maxFrameBytes);
  t.true(fetch.kind === 'frame' && fetch.request.kind === 'dt_fetch');
  const update = parseFrame(encodeFrame(MessageCode.DtUpdateReq, encodeMessage('DtUpdateReq', { bucket: b('b'), type: b('sets'), op: { set_op: { adds: [b('x')] } } })), maxFrameBytes);
  t.true(update.kind === 'frame' && update.request.kind === 'dt_update');
  const legacy = parseFrame(encodeFrame(MessageCode.CounterUpdateReq, encodeMessage('RpbCounterUpdateReq', { bucket: b('b'), key: b('k'), amount: -2 })), maxFrameBytes);
  t.true(legacy.kind === 'frame' && legacy.request.kind === 'counter_update' && legacy.request.message.amount === -2);
});

test('false and 0 are sent, not dropped: Riak clients tell them from absent', (t) => {
  const body = encodeMessage('RpbBucketProps', { allow_mult: false, pr: 0 });
  t.deepEqual(decodeMessage('RpbBucketProps', body), { allow_mult: false, pr: 0 });
  t.is(errorFrame('x').readUInt32BE(0), errorFrame('x').length - 4);
});
