// The transport between real transports on loopback: every message kind both ways between two and
// three nodes, batching per turn, the one-connection rule when two nodes dial each other at once,
// reconnecting after a restart, dialling an address whose node is unknown, and removing a peer.

import test from 'ava';
import type { PeerMessage } from '../../../src/runtime/peer/messages.js';
import { type TestNode, everyKind, introduce, normalize, sleep, startNode, waitFor } from './helpers.js';

async function closeAll(nodes: readonly TestNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.transport.close()));
}

function from(node: TestNode, sender: string): PeerMessage[] {
  return node.received.filter((r) => r.from === sender).map((r) => r.message);
}

test('two nodes exchange every kind of message in both directions, in order', async (t) => {
  const nodes = [await startNode('a'), await startNode('b')];
  t.teardown(() => closeAll(nodes));
  const [a, b] = nodes as [TestNode, TestNode];
  introduce(nodes);
  t.is(a.transport.send('b', everyKind(0)[0]!), 'unreachable', 'nothing is queued before the handshake');
  await waitFor(() => a.transport.isConnected('b') && b.transport.isConnected('a'), 'a and b to connect');
  t.deepEqual(a.ups, ['b']);
  t.deepEqual(b.ups, ['a']);
  for (const message of everyKind(1)) t.is(a.transport.send('b', message), 'queued');
  for (const message of everyKind(2)) t.is(b.transport.send('a', message), 'queued');
  await waitFor(() => a.received.length === everyKind(0).length && b.received.length === everyKind(0).length, 'both to receive every kind');
  t.deepEqual(normalize(from(b, 'a')), normalize(everyKind(1)));
  t.deepEqual(normalize(from(a, 'b')), normalize(everyKind(2)));
  const status = a.transport.peers()[0]!;
  t.like(status, { name: 'b', address: b.transport.address, connected: true, messagesSent: everyKind(0).length, messagesReceived: everyKind(0).length, lastError: undefined });
  t.is(a.transport.openConnections, 1);
});

test('three nodes in a mesh each deliver every kind to both others, per-sender order kept', async (t) => {
  const nodes = [await startNode('n1'), await startNode('n2'), await startNode('n3')];
  t.teardown(() => closeAll(nodes));
  introduce(nodes);
  for (const node of nodes) for (const other of nodes) if (other !== node) node.transport.connect(other.name);
  await waitFor(() => nodes.every((n) => nodes.every((o) => o === n || n.transport.isConnected(o.name))), 'the mesh to connect');
  nodes.forEach((node, i) => {
    for (const other of nodes) {
      if (other === node) continue;
      for (const message of [...everyKind(i * 10), ...everyKind(i * 10 + 1)]) t.is(node.transport.send(other.name, message), 'queued');
    }
  });
  const perPair = 2 * everyKind(0).length;
  await waitFor(() => nodes.every((n) => n.received.length === 2 * perPair), 'every message to arrive');
  nodes.forEach((node, i) => {
    for (const other of nodes) {
      if (other !== node) t.deepEqual(normalize(from(other, node.name)), normalize([...everyKind(i * 10), ...everyKind(i * 10 + 1)]));
    }
  });
  for (const node of nodes) t.is(node.transport.openConnections, 2, `${node.name} has one connection per peer`);
});

test('everything sent in one turn goes out as one frame, or a few at the frame limit', async (t) => {
  const nodes = [await startNode('a'), await startNode('b'), await startNode('c', { maxFrameBytes: 4096, sendQueueBytesMax: 1024 * 1024 })];
  t.teardown(() => closeAll(nodes));
  const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
  introduce(nodes);
  a.transport.connect('b');
  c.transport.connect('b');
  await waitFor(() => a.transport.isConnected('b') && c.transport.isConnected('b'), 'connections');
  const message = (i: number): PeerMessage => ({ kind: 'control', requestId: i, body: new Uint8Array(40) });
  for (let i = 0; i < 1000; i++) {
    t.is(a.transport.send('b', message(i)), 'queued');
    t.is(c.transport.send('b', message(i)), 'queued');
  }
  await waitFor(() => b.received.length === 2000, '2000 messages');
  for (const sender of ['a', 'c']) {
    t.deepEqual(from(b, sender).map((m) => (m as { requestId: number }).requestId), Array.from({ length: 1000 }, (_, i) => i), `${sender}: in order`);
  }
  const framesSent = (node: TestNode, to: string): number | undefined => node.transport.peers().find((p) => p.name === to)?.framesSent;
  t.is(framesSent(a, 'b'), 1, 'one frame for the whole turn');
  const split = framesSent(c, 'b') ?? 0;
  t.true(split >= 10 && split <= 20, `about 1000 × 46 bytes / 4096 frames, got ${split}`);
});

test('flushNow sends what this turn queued at once, in order with what follows in the same turn', async (t) => {
  const nodes = [await startNode('a'), await startNode('b')];
  t.teardown(() => closeAll(nodes));
  const [a, b] = nodes as [TestNode, TestNode];
  introduce(nodes);
  a.transport.connect('b');
  await waitFor(() => a.transport.isConnected('b'), 'a to connect');
  const framesSent = (): number => a.transport.peers().find((p) => p.name === 'b')?.framesSent ?? 0;
  const message = (i: number): PeerMessage => ({ kind: 'control', requestId: i, body: new Uint8Array(8) });
  a.transport.flushNow();
  t.is(framesSent(), 0, 'nothing queued, nothing sent');
  for (let i = 0; i < 5; i++) a.transport.send('b', message(i));
  t.is(framesSent(), 0, 'queued for the end of the turn');
  a.transport.flushNow();
  t.is(framesSent(), 1, 'written by flushNow itself, before any other callback ran');
  for (let i = 5; i < 8; i++) a.transport.send('b', message(i));
  await waitFor(() => b.received.length === 8, 'all 8 messages');
  t.is(framesSent(), 2, 'the later sends of the turn still leave together, at its end');
  t.deepEqual(from(b, 'a').map((m) => (m as { requestId: number }).requestId), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('when both nodes dial at once, one connection survives and no queued message is lost', async (t) => {
  let duplicatesRefused = 0;
  for (let round = 0; round < 15; round++) {
    const nodes = [await startNode('left'), await startNode('right')];
    const [l, r] = nodes as [TestNode, TestNode];
    introduce(nodes);
    l.transport.connect('right');
    r.transport.connect('left');
    const sent = { left: [] as number[], right: [] as number[] };
    // Keep sending from both sides while the race plays out, and a little after.
    for (let i = 0; i < 400 && !(l.transport.isConnected('right') && r.transport.isConnected('left') && i > 50); i++) {
      if (l.transport.send('right', { kind: 'control', requestId: i, body: new Uint8Array(0) }) === 'queued') sent.left.push(i);
      if (r.transport.send('left', { kind: 'control', requestId: i, body: new Uint8Array(0) }) === 'queued') sent.right.push(i);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(() => r.received.length === sent.left.length && l.received.length === sent.right.length, 'queued messages to arrive');
    await waitFor(() => l.transport.openConnections === 1 && r.transport.openConnections === 1, 'the duplicate to close');
    t.true(sent.left.length > 0 && sent.right.length > 0, `round ${round}: messages were sent during the race`);
    t.deepEqual(from(r, 'left').map((m) => (m as { requestId: number }).requestId), sent.left, `round ${round}`);
    t.deepEqual(from(l, 'right').map((m) => (m as { requestId: number }).requestId), sent.right, `round ${round}`);
    t.deepEqual([l.ups, r.ups], [['right'], ['left']], `round ${round}: each side saw the peer come up once`);
    t.deepEqual([l.downs, r.downs], [[], []], `round ${round}: and never go down`);
    duplicatesRefused += l.logs.lines.filter((line) => /simultaneous connection/.test(String(line['reason']))).length;
    await closeAll(nodes);
  }
  t.true(duplicatesRefused > 0, 'the race happened: "left" refused "right"\'s connection at least once');
});

test('a peer that stops and restarts on the same port is reconnected, with backoff', async (t) => {
  const a = await startNode('a');
  let b = await startNode('b');
  t.teardown(() => closeAll([a, b]));
  const port = Number(b.transport.address.split(':')[1]);
  introduce([a, b]);
  a.transport.connect('b');
  await waitFor(() => a.transport.isConnected('b'), 'first connection');
  await b.transport.close();
  await waitFor(() => a.downs.length === 1, 'a to see b go down');
  const downAt = a.downs[0]!.atMs;
  t.is(a.downs[0]!.name, 'b');
  t.is(a.transport.send('b', { kind: 'gossip', state: new Uint8Array([1]) }), 'unreachable');
  // Three failed redials, each after a wait of at least reconnectMinMs (20 ms): not a hot loop.
  await waitFor(() => a.transport.peers()[0]!.reconnects >= 3, 'three redials');
  t.true(Date.now() - downAt >= 3 * 20, `three redials took ${Date.now() - downAt} ms`);
  t.regex(a.transport.peers()[0]!.lastError ?? '', /ECONNREFUSED/);
  b = await startNode('b', { port });
  await waitFor(() => a.transport.isConnected('b'), 'reconnection', 2000);
  t.is(a.transport.send('b', { kind: 'gossip', state: new Uint8Array([2]) }), 'queued');
  await waitFor(() => b.received.length === 1, 'delivery after the restart');
  t.deepEqual(a.ups, ['b', 'b']);
});

test('a restarted peer that dials first replaces the stale connection', async (t) => {
  const a = await startNode('a');
  let b = await startNode('b');
  t.teardown(() => closeAll([a, b]));
  introduce([a, b]);
  b.transport.connect('a');
  await waitFor(() => a.transport.isConnected('b'), 'first connection');
  await b.transport.close();
  b = await startNode('b');
  b.transport.setPeerAddress('a', a.transport.address);
  b.transport.connect('a');
  await waitFor(() => b.transport.isConnected('a') && a.transport.isConnected('b'), 'the new connection');
  t.is(a.transport.send('b', { kind: 'gossip', state: new Uint8Array([7]) }), 'queued');
  await waitFor(() => b.received.length === 1, 'delivery on the new connection');
  t.is(a.transport.openConnections, 1);
});

test('dial(address) connects to an unnamed node and resolves with its name', async (t) => {
  const nodes = [await startNode('joiner'), await startNode('seed')];
  t.teardown(() => closeAll(nodes));
  const [joiner, seed] = nodes as [TestNode, TestNode];
  t.is(await joiner.transport.dial(seed.transport.address), 'seed');
  t.true(joiner.transport.isConnected('seed'));
  t.is(joiner.transport.peers()[0]!.address, seed.transport.address);
  // The seed answers over the connection the joiner made, without knowing the joiner's address.
  t.is(joiner.transport.send('seed', { kind: 'control', requestId: 1, body: new Uint8Array(0) }), 'queued');
  await waitFor(() => seed.received.length === 1, 'the control request');
  t.is(seed.transport.send('joiner', { kind: 'controlReply', requestId: 1, body: new Uint8Array(0) }), 'queued');
  await waitFor(() => joiner.received.length === 1, 'the reply');
  t.is(await joiner.transport.dial(seed.transport.address), 'seed', 'dialling a connected node resolves at once');
  t.is(joiner.transport.openConnections, 1);
  const other = await startNode('other', { secret: 'another secret' });
  t.teardown(() => other.transport.close());
  await t.throwsAsync(joiner.transport.dial(other.transport.address), { message: /authentication failed/ });
  await t.throwsAsync(joiner.transport.dial('127.0.0.1:1'), { message: /cannot connect to the node at 127\.0\.0\.1:1: .*ECONNREFUSED/ });
});

test('removePeer closes the connection and stops reconnecting', async (t) => {
  const nodes = [await startNode('a'), await startNode('b')];
  t.teardown(() => closeAll(nodes));
  const [a, b] = nodes as [TestNode, TestNode];
  introduce(nodes);
  a.transport.connect('b');
  await waitFor(() => a.transport.isConnected('b'), 'connection');
  a.transport.removePeer('b');
  t.deepEqual(a.downs.map(({ name, reason }) => ({ name, reason })), [{ name: 'b', reason: 'peer removed' }]);
  t.deepEqual(a.transport.peers(), []);
  t.is(a.transport.send('b', { kind: 'gossip', state: new Uint8Array(0) }), 'unreachable');
  await waitFor(() => !b.transport.isConnected('a'), 'b to see the close');
  await sleep(100);
  t.is(a.transport.openConnections, 0, 'no dial after removal');
});

test('close() closes the listener and every connection', async (t) => {
  const nodes = [await startNode('a'), await startNode('b')];
  const [a, b] = nodes as [TestNode, TestNode];
  introduce(nodes);
  a.transport.connect('b');
  await waitFor(() => a.transport.isConnected('b'), 'connection');
  await a.transport.close();
  t.is(a.transport.openConnections, 0);
  t.is(a.transport.send('b', { kind: 'gossip', state: new Uint8Array(0) }), 'unreachable');
  await waitFor(() => b.downs.length === 1, 'b to see a go');
  await b.transport.close();
  await a.transport.close(); // idempotent
});

test('options are checked at start, each problem named', async (t) => {
  const error = await t.throwsAsync(startNode('', { maxFrameBytes: 10, reconnectMinMs: 500, reconnectMaxMs: 100, sendQueueBytesMax: 5 }));
  t.regex(error?.message ?? '', /nodeName is empty/);
  t.regex(error?.message ?? '', /maxFrameBytes must be an integer >= 1024/);
  t.regex(error?.message ?? '', /reconnectMaxMs must be at least reconnectMinMs/);
  t.regex(error?.message ?? '', /sendQueueBytesMax must be at least maxFrameBytes/);
});
