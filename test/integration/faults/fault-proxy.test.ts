// The fault proxy on plain sockets, before any test trusts it with a cluster: it relays bytes both
// ways in order, tells the dialer from its first frame, holds bytes under a blackhole and
// delivers them on heal, holds one direction only under a one-way rule, and closes and refuses
// connections under drop.

import test from 'ava';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { FaultProxy } from './fault-proxy.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A frame as the peer protocol sends it: 4-byte length, then the body. */
function frame(text: string): Buffer {
  const body = Buffer.from(text);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

interface FakeNode {
  readonly server: Server;
  readonly port: number;
  /** Every socket accepted, with the bytes it received. */
  readonly accepted: { socket: Socket; received: Buffer[] }[];
}

async function fakeNode(): Promise<FakeNode> {
  const accepted: FakeNode['accepted'] = [];
  const server = createServer((socket) => {
    const entry = { socket, received: [] as Buffer[] };
    accepted.push(entry);
    socket.on('data', (chunk: Buffer) => entry.received.push(chunk));
    socket.on('error', () => undefined);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  return { server, port, accepted };
}

async function dial(port: number): Promise<{ socket: Socket; received: Buffer[]; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, received, closed };
}

const text = (chunks: readonly Buffer[]): string => Buffer.concat(chunks).toString('latin1');

async function setup(): Promise<{ proxy: FaultProxy; b: FakeNode; proxyPort: number; close: () => Promise<void> }> {
  const proxy = new FaultProxy();
  const b = await fakeNode();
  await proxy.addNode('a@127.0.0.1', 1); // a only dials here; its listener is never used
  const proxyPort = await proxy.addNode('b@127.0.0.1', b.port);
  return { proxy, b, proxyPort, close: async () => {
    await proxy.close();
    for (const s of b.accepted) s.socket.destroy();
    await new Promise<void>((resolve) => b.server.close(() => resolve()));
  } };
}

test('pass: bytes flow both ways, in order, and the dialer is named by its first frame', async (t) => {
  const { b, proxyPort, close } = await setup();
  try {
    const a = await dial(proxyPort);
    a.socket.write(frame('hello from a@127.0.0.1'));
    a.socket.write('more');
    await sleep(100);
    t.is(b.accepted.length, 1);
    t.true(text(b.accepted[0]!.received).endsWith('hello from a@127.0.0.1more'));
    b.accepted[0]!.socket.write('answer');
    await sleep(100);
    t.is(text(a.received), 'answer');
  } finally {
    await close();
  }
});

test('blackhole: nothing is delivered while it lasts, everything arrives in order after heal', async (t) => {
  const { proxy, b, proxyPort, close } = await setup();
  try {
    const a = await dial(proxyPort);
    a.socket.write(frame('a@127.0.0.1'));
    await sleep(100);
    proxy.partition([['a@127.0.0.1'], ['b@127.0.0.1']], 'blackhole');
    a.socket.write('one');
    b.accepted[0]!.socket.write('two');
    await sleep(200);
    t.false(text(b.accepted[0]!.received).includes('one'));
    t.is(text(a.received), '');
    a.socket.write('three');
    proxy.heal();
    await sleep(200);
    t.true(text(b.accepted[0]!.received).endsWith('onethree'));
    t.is(text(a.received), 'two');
  } finally {
    await close();
  }
});

test('a new connection into a blackhole never reaches the node until heal', async (t) => {
  const { proxy, b, proxyPort, close } = await setup();
  try {
    proxy.partition([['a@127.0.0.1'], ['b@127.0.0.1']], 'blackhole');
    const a = await dial(proxyPort);
    a.socket.write(frame('a@127.0.0.1'));
    await sleep(200);
    t.is(b.accepted.length, 0, 'the node saw no connection');
    proxy.heal();
    await sleep(200);
    t.is(b.accepted.length, 1);
    t.true(text(b.accepted[0]!.received).includes('a@127.0.0.1'));
  } finally {
    await close();
  }
});

test('one-way: a -> b held while b -> a flows', async (t) => {
  const { proxy, b, proxyPort, close } = await setup();
  try {
    const a = await dial(proxyPort);
    a.socket.write(frame('a@127.0.0.1'));
    await sleep(100);
    proxy.setRule('a@127.0.0.1', 'b@127.0.0.1', 'blackhole');
    a.socket.write('to-b');
    b.accepted[0]!.socket.write('to-a');
    await sleep(200);
    t.is(text(a.received), 'to-a');
    t.false(text(b.accepted[0]!.received).includes('to-b'));
    proxy.heal();
    await sleep(200);
    t.true(text(b.accepted[0]!.received).endsWith('to-b'));
  } finally {
    await close();
  }
});

test('drop: the connection is closed, and a new one is closed after its first frame', async (t) => {
  const { proxy, b, proxyPort, close } = await setup();
  try {
    const a = await dial(proxyPort);
    a.socket.write(frame('a@127.0.0.1'));
    await sleep(100);
    proxy.partition([['a@127.0.0.1'], ['b@127.0.0.1']], 'drop');
    await a.closed;
    const again = await dial(proxyPort);
    again.socket.write(frame('a@127.0.0.1'));
    await again.closed;
    t.is(b.accepted.length, 1, 'the second connection never reached the node');
    t.is(proxy.counts.refused, 1);
    proxy.heal();
    const healed = await dial(proxyPort);
    healed.socket.write(frame('a@127.0.0.1'));
    await sleep(100);
    t.is(b.accepted.length, 2);
  } finally {
    await close();
  }
});
