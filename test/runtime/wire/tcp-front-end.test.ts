// The shared TCP front-end machinery, driven by a toy line protocol: "<delay ms> <text>\n" is
// answered with "<text>\n" after the delay; "bad\n" is a recoverable error; a line over 4096
// bytes without a newline is a fatal one. Every limit is exercised against a real socket.

import test from 'ava';
import { spawn } from 'node:child_process';
import { type Socket, connect } from 'node:net';
import { pino } from 'pino';
import { type ParseResult, type ProtocolHandler, type TcpFrontEndLimits, startTcpFrontEnd } from '../../../src/runtime/wire/tcp-front-end.js';

const log = pino({ level: process.env['WIRE_DEBUG'] ? 'debug' : 'silent' });
const enc = (s: string): Uint8Array => Buffer.from(s);

const lineProtocol: ProtocolHandler<{ delayMs: number; text: string }> = {
  name: 'line',
  parse(buffer: Buffer): ParseResult<{ delayMs: number; text: string }> {
    const end = buffer.indexOf(10);
    if (end < 0) return buffer.length > 4096 ? { kind: 'error', reply: enc('-too long\n') } : { kind: 'incomplete' };
    const line = buffer.subarray(0, end).toString();
    if (line === 'bad') return { kind: 'error', reply: enc('-bad\n'), bytes: end + 1 };
    const [delay, ...rest] = line.split(' ');
    return { kind: 'frame', request: { delayMs: Number(delay), text: rest.join(' ') }, bytes: end + 1 };
  },
  async handle(request) {
    await new Promise((r) => setTimeout(r, request.delayMs));
    if (request.text === 'throw') throw new Error('boom');
    return { reply: enc(`${request.text}\n`), close: request.text === 'quit' };
  },
  internalError: (message) => enc(`-internal ${message}\n`),
};

const limits: TcpFrontEndLimits = { maxConnections: 4, maxInflightPerConnection: 8, maxUnsentBytes: 64 * 1024, idleTimeoutMs: 5000, frameTimeoutMs: 300 };

async function start(overrides: Partial<TcpFrontEndLimits> = {}) {
  return startTcpFrontEnd({ host: '127.0.0.1', port: 0, limits: { ...limits, ...overrides }, log }, lineProtocol);
}

function open(address: string): Promise<Socket> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => resolve(socket));
    socket.once('error', reject);
  });
}

function readUntil(socket: Socket, predicate: (text: string) => boolean, timeoutMs = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      if (predicate(text)) finish(false);
    });
    socket.once('close', () => finish(true));
    if (socket.closed) finish(true); // closed before we started listening
  });
}

test('pipelined requests are answered in order, whatever order they finish in', async (t) => {
  const front = await start();
  t.teardown(() => front.close());
  const socket = await open(front.address);
  socket.write('50 a\n0 b\n20 c\nbad\n0 throw\n0 d\n');
  const { text } = await readUntil(socket, (s) => s.endsWith('d\n'));
  t.is(text, 'a\nb\nc\n-bad\n-internal boom\nd\n');
  socket.destroy();
});

test('an unrecoverable frame is answered and the connection closed', async (t) => {
  const front = await start();
  t.teardown(() => front.close());
  const socket = await open(front.address);
  socket.write('x'.repeat(5000));
  const { text, closed } = await readUntil(socket, () => false);
  t.is(text, '-too long\n');
  t.true(closed);
});

test('a fatal frame behind a slow request is answered once, after it, and then the connection closes', async (t) => {
  let fatalParses = 0;
  const counting: ProtocolHandler<{ delayMs: number; text: string }> = {
    ...lineProtocol,
    parse(buffer) {
      const result = lineProtocol.parse(buffer);
      if (result.kind === 'error' && result.bytes === undefined) fatalParses++;
      return result;
    },
  };
  const front = await startTcpFrontEnd({ host: '127.0.0.1', port: 0, limits, log }, counting);
  t.teardown(() => front.close());
  const socket = await open(front.address);
  // Regression: the broken frame was parsed and queued again on every flush until the cap.
  socket.write(`100 first\n${'x'.repeat(5000)}`);
  const { text, closed } = await readUntil(socket, () => false);
  t.is(text, 'first\n-too long\n');
  t.true(closed);
  t.is(fatalParses, 1);
});

test('a large frame arriving in many chunks is parsed once it is complete', async (t) => {
  let parses = 0;
  const sized: ProtocolHandler<string> = {
    name: 'sized',
    // "<length>:<payload>": the length prefix tells the connection how long to wait.
    parse(buffer) {
      parses++;
      const colon = buffer.indexOf(58);
      if (colon < 0) return { kind: 'incomplete' };
      const length = Number(buffer.subarray(0, colon).toString());
      if (buffer.length < colon + 1 + length) return { kind: 'incomplete', needBytes: colon + 1 + length };
      return { kind: 'frame', request: String(length), bytes: colon + 1 + length };
    },
    async handle(request) {
      return { reply: enc(`${request}\n`) };
    },
    internalError: (message) => enc(`-${message}\n`),
  };
  // A generous frame deadline: this test is about parsing once, not about the deadline, and a
  // loaded machine may take a while to push a megabyte through in 100 chunks.
  const front = await startTcpFrontEnd({ host: '127.0.0.1', port: 0, limits: { ...limits, frameTimeoutMs: 60_000 }, log }, sized);
  t.teardown(() => front.close());
  const socket = await open(front.address);
  socket.write('1000000:');
  for (let i = 0; i < 100; i++) {
    socket.write(Buffer.alloc(10_000, 1));
    await new Promise((r) => setImmediate(r));
  }
  const { text } = await readUntil(socket, (s) => s.endsWith('\n'));
  t.is(text, '1000000\n');
  t.true(parses < 10, `parsed ${parses} times, not once per chunk`);
  socket.destroy();
});

test('a client sending one byte at a time is cut off at the frame deadline; others are served', async (t) => {
  const front = await start({ frameTimeoutMs: 200 });
  t.teardown(() => front.close());
  const slow = await open(front.address);
  const started = Date.now();
  const dribble = setInterval(() => slow.write('x'), 50);
  const closed = readUntil(slow, () => false);
  const good = await open(front.address);
  good.write('0 hello\n');
  t.is((await readUntil(good, (s) => s.endsWith('\n'))).text, 'hello\n');
  const result = await closed;
  clearInterval(dribble);
  t.true(result.closed);
  t.true(Date.now() - started < 2000);
  good.destroy();
});

test('a client that never reads its replies is cut off; the node stays responsive', async (t) => {
  const front = await start({ maxUnsentBytes: 16 * 1024, maxInflightPerConnection: 1000, idleTimeoutMs: 2000 });
  t.teardown(() => front.close());
  const [host, port] = front.address.split(':') as [string, string];
  // The hog runs in a process of its own: a socket that is never read, writing requests as fast
  // as it can. It reports how it ended.
  const hogScript = `
    const s = require('node:net').connect(${port}, '${host}');
    s.pause();
    const line = '0 ' + 'y'.repeat(1000) + '\\n';
    const timer = setInterval(() => { if (!s.destroyed) s.write(line.repeat(50)); }, 5);
    s.on('error', () => {});
    s.on('close', () => { clearInterval(timer); console.log('closed'); process.exit(0); });
    setTimeout(() => { console.log('still open'); process.exit(0); }, 10000);
  `;
  const hog = spawn(process.execPath, ['-e', hogScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  const verdict = new Promise<string>((resolve) => {
    let out = '';
    hog.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    hog.on('exit', () => resolve(out.trim()));
  });
  await new Promise((r) => setTimeout(r, 200));
  const good = await open(front.address);
  good.write('0 still here\n');
  t.is((await readUntil(good, (s) => s.endsWith('\n'))).text, 'still here\n');
  good.destroy();
  t.is(await verdict, 'closed', 'the node closed the connection that never read its replies');
});

test('after a fatal frame the node stops reading: a client that keeps sending is dropped, not buffered', async (t) => {
  const front = await start({ frameTimeoutMs: 300 });
  t.teardown(() => front.close());
  const [host, port] = front.address.split(':') as [string, string];
  // Regression: the node used to half-close here and go on buffering whatever still arrived.
  const script = `
    const s = require('node:net').connect(${port}, '${host}');
    s.pause();
    const junk = 'x'.repeat(64 * 1024);
    const timer = setInterval(() => { if (!s.destroyed) s.write(junk); }, 5);
    s.on('error', () => {});
    s.on('close', () => { clearInterval(timer); console.log('closed'); process.exit(0); });
    setTimeout(() => { console.log('still open'); process.exit(0); }, 5000);
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  t.is(out.trim(), 'closed');
  t.is(front.connections, 0);
});

test('idle connections are closed after the idle timeout; the connection cap refuses extras', async (t) => {
  const front = await start({ idleTimeoutMs: 200, maxConnections: 2 });
  t.teardown(() => front.close());
  const a = await open(front.address);
  const b = await open(front.address);
  const c = await open(front.address);
  const third = await readUntil(c, () => false, 1000);
  t.true(third.closed, 'over the cap');
  const idle = await readUntil(a, () => false, 2000);
  t.true(idle.closed, 'idle');
  b.destroy();
});

test('QUIT-style replies close after answering; requests past the in-flight cap wait, not fail', async (t) => {
  const front = await start({ maxInflightPerConnection: 2 });
  t.teardown(() => front.close());
  const socket = await open(front.address);
  socket.write('30 1\n30 2\n30 3\n30 4\n0 quit\n');
  const { text, closed } = await readUntil(socket, () => false);
  t.is(text, '1\n2\n3\n4\nquit\n');
  t.true(closed);
});
