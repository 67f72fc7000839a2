// The transport's refusals and limits, against real sockets: a wrong secret or cluster name is
// refused with the reason logged on both sides, a wrong proof is refused, a silent connection is
// cut at the handshake deadline, a receiver that does not read turns sends into 'overload', and an
// oversized length header or garbage bytes close the connection without harming the process.

import test from 'ava';
import { encodePeerFrame } from '../../../src/runtime/peer/codec.js';
import type { PeerMessage } from '../../../src/runtime/peer/messages.js';
import { type TestNode, clusterName, everyKind, introduce, openSocket, rawDialer, rawFrame, RawFrames, secret, sleep, startNode, waitFor } from './helpers.js';

async function closeAll(nodes: readonly TestNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.transport.close()));
}

const logged = (node: TestNode, pattern: RegExp): boolean => pattern.test(node.logs.text());

test('a wrong secret is refused: both sides log "authentication failed", nothing is delivered', async (t) => {
  const a = await startNode('a', { secret: 'secret-one-xxxxxxxx' });
  const b = await startNode('b', { secret: 'secret-two-yyyyyyyy' });
  t.teardown(() => closeAll([a, b]));
  introduce([a, b]);
  t.is(a.transport.send('b', everyKind(0)[0]!), 'unreachable');
  await waitFor(() => logged(a, /authentication failed/) && logged(b, /authentication failed/), 'both sides to log the refusal');
  t.is(a.transport.send('b', everyKind(0)[0]!), 'unreachable');
  t.false(a.transport.isConnected('b'));
  t.false(b.transport.isConnected('a'));
  t.deepEqual([a.received, b.received, a.ups, b.ups], [[], [], [], []]);
  t.regex(a.transport.peers()[0]!.lastError ?? '', /authentication failed/);
  // Neither secret appears in any log line, on either side.
  for (const node of [a, b]) t.false(/secret-(one|two)/.test(node.logs.text()));
});

test('a wrong cluster name is refused with that reason, logged on both sides', async (t) => {
  const a = await startNode('a');
  const b = await startNode('b', { clusterName: 'other-cluster' });
  t.teardown(() => closeAll([a, b]));
  introduce([a, b]);
  a.transport.connect('b');
  const reason = `cluster name mismatch: expected "other-cluster", got "${clusterName}"`;
  await waitFor(() => b.logs.text().includes(JSON.stringify(reason).slice(1, -1)) && (a.transport.peers()[0]!.lastError ?? '').includes(reason), 'the refusal on both sides');
  t.true(logged(a, /peer refused the connection/));
  t.false(a.transport.isConnected('b'));
});

test('a dialer with a wrong proof is refused, and learns only "authentication failed"', async (t) => {
  const a = await startNode('a');
  t.teardown(() => a.transport.close());
  const { frames, outcome } = await rawDialer(a.transport.address, { name: 'mallory', badProof: true });
  t.like(outcome, { step: 'reject', reason: 'authentication failed', code: 'refused' });
  await frames.untilClosed();
  t.true(logged(a, /authentication failed/));
  t.deepEqual(a.transport.peers(), [], 'no trace of the stranger is kept');
});

test('a connection that says nothing is cut at the handshake deadline', async (t) => {
  const a = await startNode('a', { handshakeTimeoutMs: 100 });
  t.teardown(() => a.transport.close());
  const socket = await openSocket(a.transport.address);
  const frames = new RawFrames(socket);
  const started = Date.now();
  await frames.untilClosed();
  t.true(Date.now() - started < 1000);
  t.is(a.transport.openConnections, 0);
  t.true(logged(a, /handshake not completed within 100 ms/));
});

test('a receiver that does not read makes sends return overload, holding memory to the limit', async (t) => {
  const sendQueueBytesMax = 1024 * 1024;
  const a = await startNode('a', { maxFrameBytes: 256 * 1024, sendQueueBytesMax });
  t.teardown(() => a.transport.close());
  const { socket, outcome } = await rawDialer(a.transport.address, { name: 'sloth' });
  t.like(outcome, { step: 'accept' });
  socket.pause(); // from here on, never read
  await waitFor(() => a.transport.isConnected('sloth'), 'the raw peer to be live');
  const big: PeerMessage = { kind: 'gossip', state: new Uint8Array(200 * 1024) };
  let queued = 0;
  let result = 'queued';
  // The kernel's socket buffers take some megabytes first; after that, the limit bites.
  for (let turn = 0; turn < 2000 && result !== 'overload'; turn++) {
    result = a.transport.send('sloth', big);
    if (result === 'queued') queued++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.is(result, 'overload');
  const status = a.transport.peers()[0]!;
  t.true(status.queuedBytes <= sendQueueBytesMax, `queued ${status.queuedBytes}`);
  t.true(status.connected);
  t.true(queued > 0);
  socket.destroy();
});

test('within one turn, sends past the queue limit are overload and nothing of them is queued', async (t) => {
  const nodes = [await startNode('a', { maxFrameBytes: 64 * 1024, sendQueueBytesMax: 100 * 1024 }), await startNode('b')];
  t.teardown(() => closeAll(nodes));
  const [a, b] = nodes as [TestNode, TestNode];
  introduce(nodes);
  a.transport.connect('b');
  await waitFor(() => a.transport.isConnected('b'), 'connection');
  const results = Array.from({ length: 20 }, (_, i) => a.transport.send('b', { kind: 'control', requestId: i, body: new Uint8Array(10 * 1024) }));
  const queued = results.filter((r) => r === 'queued').length;
  t.is(queued, 9, '9 × ~10 KiB fit in 100 KiB, the tenth would not');
  t.true(results.slice(queued).every((r) => r === 'overload'));
  await waitFor(() => b.received.length === queued, 'the queued ones to arrive');
  t.is(a.transport.send('b', { kind: 'control', requestId: 99, body: new Uint8Array(10) }), 'queued', 'room again once flushed');
  t.throws(() => a.transport.send('b', { kind: 'gossip', state: new Uint8Array(64 * 1024) }), { instanceOf: RangeError, message: /exceeds maxFrameBytes/ });
});

test('an oversized length header closes the connection before the body is buffered', async (t) => {
  const a = await startNode('a', { maxFrameBytes: 4096, sendQueueBytesMax: 8192 });
  t.teardown(() => a.transport.close());
  // Before the handshake, the small handshake limit applies.
  const early = await openSocket(a.transport.address);
  const earlyFrames = new RawFrames(early);
  early.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
  await earlyFrames.untilClosed();
  // After it, maxFrameBytes does: one byte over it is enough.
  const { socket, frames, outcome } = await rawDialer(a.transport.address, { name: 'big' });
  t.like(outcome, { step: 'accept' });
  await waitFor(() => a.transport.isConnected('big'), 'live');
  socket.write(Buffer.from([0, 0, 0x10, 0x01])); // 4097, and no body at all
  await frames.untilClosed();
  await waitFor(() => a.downs.length === 1, 'onPeerDown');
  t.regex(a.downs[0]!.reason, /frame of 4097 bytes announced, above the limit of 4096 bytes/);
  t.true(logged(a, /2147483647 bytes announced/) && logged(a, /4097 bytes announced/));
});

test('garbage bytes close the connection, before or after the handshake, and the node carries on', async (t) => {
  const nodes = [await startNode('a'), await startNode('b')];
  t.teardown(() => closeAll(nodes));
  const [a, b] = nodes as [TestNode, TestNode];
  const early = await openSocket(a.transport.address);
  const earlyFrames = new RawFrames(early);
  early.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  await earlyFrames.untilClosed();
  const inFrame = await openSocket(a.transport.address);
  const inFrameReplies = new RawFrames(inFrame);
  inFrame.write(rawFrame(Buffer.from([0xff, 0xfe, 0xfd, 0x01, 0x02])));
  t.like(await inFrameReplies.nextStep(), { step: 'reject', code: 'refused' });
  await inFrameReplies.untilClosed();

  const { socket, frames, outcome } = await rawDialer(a.transport.address, { name: 'junk' });
  t.like(outcome, { step: 'accept' });
  await waitFor(() => a.transport.isConnected('junk'), 'live');
  const good = encodePeerFrame([{ kind: 'gossip', state: new Uint8Array([1]) }]);
  socket.write(Buffer.concat([rawFrame(good), rawFrame(Buffer.from([0x0a, 0x05, 0xff, 0xff]))]));
  await frames.untilClosed();
  t.is(a.received.length, 1, 'the good frame before the garbage was delivered');
  await waitFor(() => a.downs.length === 1, 'onPeerDown');
  t.regex(a.downs[0]!.reason, /undecodable peer frame/);

  introduce(nodes);
  a.transport.connect('b');
  await waitFor(() => a.transport.isConnected('b'), 'a healthy peer to connect afterwards');
  t.is(a.transport.send('b', everyKind(5)[0]!), 'queued');
  await waitFor(() => b.received.length === 1, 'delivery');
});

test('too many handshakes at once: the extra connections are closed at once', async (t) => {
  const a = await startNode('a', { pendingHandshakesMax: 2 });
  t.teardown(() => a.transport.close());
  const sockets = await Promise.all([0, 1, 2].map(() => openSocket(a.transport.address)));
  const frames = sockets.map((s) => new RawFrames(s));
  await waitFor(() => frames.filter((f) => f.closed).length === 1, 'one of three to be closed');
  await sleep(50);
  t.is(frames.filter((f) => f.closed).length, 1);
  t.true(logged(a, /too many handshakes in progress/));
  for (const s of sockets) s.destroy();
});

test('a node refuses a connection from a node of its own name', async (t) => {
  const a = await startNode('a');
  t.teardown(() => a.transport.close());
  const { outcome } = await rawDialer(a.transport.address, { name: 'a', secret });
  t.like(outcome, { step: 'reject', reason: 'a node cannot connect to itself (both ends are named "a")' });
});
