// The RESP front end over a raw socket, on the in-memory KvService double: what telnet and a
// misbehaving client send. Inline commands work; a frame announcing a huge bulk string is refused
// at once, before its payload; bad framing is answered and the connection closed.

import test from 'ava';
import { type Socket, connect } from 'node:net';
import { pino } from 'pino';
import { startRespFrontEnd } from '../../../src/runtime/resp/front-end.js';
import type { TcpFrontEndLimits } from '../../../src/runtime/wire/tcp-front-end.js';
import { MemoryKv } from '../http/memory-kv.js';

const log = pino({ level: 'silent' });
const limits: TcpFrontEndLimits = { maxConnections: 8, maxInflightPerConnection: 16, maxUnsentBytes: 1 << 20, idleTimeoutMs: 5000, frameTimeoutMs: 2000 };

async function start(protocol: { maxArrayElements?: number; maxLineBytes?: number } = {}) {
  const front = await startRespFrontEnd(
    { host: '127.0.0.1', port: 0, limits, maxFrameBytes: 4096, bucketType: 'default', bucket: 'redis', log, protocol },
    { kv: new MemoryKv(), startedAtMs: Date.now(), nodeName: 'ringkv@test' },
  );
  return front;
}

function open(address: string): Promise<Socket> {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

function readUntil(socket: Socket, predicate: (text: string) => boolean, timeoutMs = 3000): Promise<{ text: string; closed: boolean; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let text = '';
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      resolve({ text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (predicate(text)) finish(false);
    });
    socket.once('close', () => finish(true));
  });
}

test('inline commands work, as telnet sends them', async (t) => {
  const front = await start();
  t.teardown(() => front.close());
  const socket = await open(front.address);
  socket.write('PING\r\nset greeting "hello world"\r\nGET greeting\nECHO \'a b\'\r\n');
  const { text } = await readUntil(socket, (s) => s.endsWith('$3\r\na b\r\n'));
  t.is(text, '+PONG\r\n+OK\r\n$11\r\nhello world\r\n$3\r\na b\r\n');
  socket.destroy();
});

test('a frame announcing $999999999999 is refused at once and the connection closed', async (t) => {
  const front = await start();
  t.teardown(() => front.close());
  const socket = await open(front.address);
  socket.write('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999999999\r\n');
  const { text, closed, ms } = await readUntil(socket, () => false);
  t.is(text, '-ERR Protocol error: bulk length 999999999999 is over the request limit of 4096 bytes\r\n');
  t.true(closed);
  t.true(ms < 1000, `closed after ${ms} ms, not at the frame deadline`);
});

test('bad framing is answered with a protocol error and closes; earlier replies arrive first', async (t) => {
  const front = await start();
  t.teardown(() => front.close());
  const socket = await open(front.address);
  socket.write('PING\r\n*1\r\nnot-a-bulk\r\nPING\r\n');
  const { text, closed } = await readUntil(socket, () => false);
  t.is(text, "+PONG\r\n-ERR Protocol error: expected '$', got 'n'\r\n");
  t.true(closed);
});

test('the protocol limits are knobs: a smaller line limit and array limit apply', async (t) => {
  const front = await start({ maxLineBytes: 32, maxArrayElements: 2 });
  t.teardown(() => front.close());
  const a = await open(front.address);
  a.write(`ECHO ${'x'.repeat(40)}`);
  t.regex((await readUntil(a, () => false)).text, /^-ERR Protocol error: too big inline request \(over 32 bytes/);
  const b = await open(front.address);
  b.write('*3\r\n');
  t.regex((await readUntil(b, () => false)).text, /^-ERR Protocol error: multibulk length 3 is over the limit of 2 elements/);
});

test('an unknown command is an error and the connection goes on; QUIT answers +OK and closes', async (t) => {
  const front = await start();
  t.teardown(() => front.close());
  const socket = await open(front.address);
  socket.write('*2\r\n$7\r\nFLUSHME\r\n$1\r\nx\r\n*1\r\n$4\r\nPING\r\nQUIT\r\nPING\r\n');
  const { text, closed } = await readUntil(socket, () => false);
  t.is(text, "-ERR unknown command 'FLUSHME', with args beginning with: 'x' \r\n+PONG\r\n+OK\r\n");
  t.true(closed);
});
