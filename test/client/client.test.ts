// The protocol-buffers client against a real in-process node: round trips, siblings and their
// resolution, preconditions, pipelining on one connection, and the failure codes for a node that
// is not listening and one that never answers.

import test from 'ava';
import { type Server, type Socket, createServer } from 'node:net';
import { RingkvError, connect, defaultClientLimits, resolve } from '../../src/client/index.js';
import { freePort } from '../integration/process-node.js';
import { type TestNode, startTestNode } from '../runtime/node/harness.js';

let node: TestNode;
let address: string;

test.before(async () => {
  const pbPort = await freePort();
  node = await startTestNode({ pbPort, httpPort: 0, respPort: 0 });
  address = `127.0.0.1:${pbPort}`;
});

test.after.always(async () => {
  await node?.cleanup();
});

/** A server that accepts connections and never answers, to stand in for a hung node. */
async function silentServer(): Promise<{ address: string; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((done) => server.close(() => done()));
    },
  };
}

/** A server that answers every connection with `reply` bytes. */
async function replyingServer(reply: Buffer): Promise<{ address: string; close: () => Promise<void> }> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.write(reply));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as { port: number }).port;
  return { address: `127.0.0.1:${port}`, close: () => new Promise((done) => server.close(() => done())) };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    return error instanceof RingkvError ? error.code : `not a RingkvError: ${String(error)}`;
  }
}

test('a put is read back with its content type, user metadata and context', async (t) => {
  const client = await connect({ nodes: [address] });
  try {
    const put = await client.put('carts', 'alice', 'one book', { contentType: 'text/plain', userMeta: [{ key: 'owner', value: 'alice' }] });
    t.true(put.context.length > 0);
    const read = await client.get('carts', 'alice');
    if (!read.found) return t.fail('not found');
    t.is(read.siblings.length, 1);
    const [sibling] = read.siblings;
    t.is(sibling!.value.toString(), 'one book');
    t.is(sibling!.contentType, 'text/plain');
    t.deepEqual(sibling!.userMeta, [{ key: 'owner', value: 'alice' }]);
    t.true(sibling!.vtag.length > 0);
    t.true(Math.abs(sibling!.lastModifiedMs - Date.now()) < 60_000);
    t.deepEqual(read.context, put.context);
    t.false((await client.get('carts', 'nobody')).found);
    await client.ping();
  } finally {
    await client.close();
  }
});

test('two blind puts make two siblings; resolving and writing back with the context makes one', async (t) => {
  const client = await connect({ nodes: [address] });
  try {
    await client.put('siblings', 'k', 'a');
    await client.put('siblings', 'k', 'b');
    const read = await client.get('siblings', 'k');
    if (!read.found) return t.fail('not found');
    t.deepEqual(read.siblings.map((s) => s.value.toString()).sort(), ['a', 'b']);
    const merged = resolve(read, (siblings) => Buffer.from(siblings.map((s) => s.value.toString()).sort().join('+')));
    const put = await client.put('siblings', 'k', merged.value, { context: merged.context, returnBody: true });
    t.deepEqual(put.siblings?.map((s) => s.value.toString()), ['a+b']);
    const after = await client.get('siblings', 'k');
    if (!after.found) return t.fail('not found after resolve');
    t.deepEqual(after.siblings.map((s) => s.value.toString()), ['a+b']);
  } finally {
    await client.close();
  }
});

test('overwrite replaces the siblings without a context; with a context the client refuses it before sending', async (t) => {
  const client = await connect({ nodes: [address] });
  try {
    await client.put('overwrites', 'k', 'a');
    const second = await client.put('overwrites', 'k', 'b');
    const both = await client.get('overwrites', 'k');
    t.is(both.found ? both.siblings.length : 0, 2);
    const put = await client.put('overwrites', 'k', 'c', { overwrite: true, returnBody: true });
    t.deepEqual(put.siblings?.map((s) => s.value.toString()), ['c']);
    const read = await client.get('overwrites', 'k');
    t.deepEqual(read.found ? read.siblings.map((s) => s.value.toString()) : [], ['c']);
    await t.throwsAsync(client.put('overwrites', 'k', 'd', { overwrite: true, context: second.context }), { instanceOf: TypeError, message: /overwrite takes no context/ });
  } finally {
    await client.close();
  }
});

test('a delete makes the key not found, with a tombstone context a later write can use', async (t) => {
  const client = await connect({ nodes: [address] });
  try {
    const put = await client.put('deletes', 'k', 'v');
    await client.delete('deletes', 'k', { context: put.context });
    const read = await client.get('deletes', 'k');
    t.false(read.found);
    t.true(read.context !== undefined);
    await client.put('deletes', 'k', 'again', { context: read.context });
    const again = await client.get('deletes', 'k');
    t.deepEqual(again.found ? again.siblings.map((s) => s.value.toString()) : [], ['again']);
    t.deepEqual((await client.listKeys('deletes')).map((k) => k.toString()), ['k']);
  } finally {
    await client.close();
  }
});

test('ifNoneMatch on an existing key fails with precondition_failed, keeping the server message', async (t) => {
  const client = await connect({ nodes: [address] });
  try {
    await client.put('preconditions', 'k', 'first', { ifNoneMatch: true });
    const error = await t.throwsAsync(client.put('preconditions', 'k', 'second', { ifNoneMatch: true }), { instanceOf: RingkvError });
    t.is(error?.code, 'precondition_failed');
    t.is(error?.errmsg, 'match_found');
    const stale = await client.put('preconditions', 'm', 'v1');
    await client.put('preconditions', 'm', 'v2', { context: stale.context });
    t.is(await codeOf(client.put('preconditions', 'm', 'v3', { context: stale.context, ifNotModified: true })), 'precondition_failed');
  } finally {
    await client.close();
  }
});

test('a put with ttlMs reports its expiresAtMs on the siblings, and the key reads as not found once it passes', async (t) => {
  const client = await connect({ nodes: [address] });
  try {
    const before = Date.now();
    const put = await client.put('sessions', 'long', 'ada', { ttlMs: 600_000, returnBody: true });
    const expiresAtMs = put.siblings?.[0]?.expiresAtMs;
    t.true(expiresAtMs !== undefined && expiresAtMs >= before + 600_000 && expiresAtMs <= Date.now() + 600_000, `expiresAtMs ${expiresAtMs} is the write time plus ttlMs`);
    const read = await client.get('sessions', 'long');
    t.deepEqual(read.found ? read.siblings.map((s) => [s.value.toString(), s.expiresAtMs]) : [], [['ada', expiresAtMs]]);
    // A write without ttlMs makes a value that never expires (the type has no default TTL).
    await client.put('sessions', 'long', 'ada forever', { context: read.context });
    const rewritten = await client.get('sessions', 'long');
    t.true(rewritten.found && rewritten.siblings.length === 1 && !('expiresAtMs' in rewritten.siblings[0]!), 'no expiresAtMs on a value that never expires');

    await client.put('sessions', 'short', 'brief', { ttlMs: 300 });
    // Bounded polling, on the node's clock: the key goes, with a context a later write can use.
    let gone = await client.get('sessions', 'short');
    for (const deadline = Date.now() + 10_000; gone.found && Date.now() < deadline; gone = await client.get('sessions', 'short')) await new Promise((r) => setTimeout(r, 25));
    t.false(gone.found, 'expired within the polling bound');
    t.true(gone.context !== undefined, 'an expired key answers a context, like a deleted one');

    // The range is the node's to judge (the same words as over HTTP); what a uint64 cannot carry is refused here.
    const tooLong = await t.throwsAsync(client.put('sessions', 'k', 'v', { ttlMs: 10 * 365 * 24 * 3600 * 1000 + 1 }), { instanceOf: RingkvError });
    t.is(tooLong?.code, 'server_error');
    t.regex(tooLong?.errmsg ?? '', /^invalid_request: ttl_ms must be an integer from 0/);
    await t.throwsAsync(client.put('sessions', 'k', 'v', { ttlMs: -1 }), { instanceOf: TypeError, message: /ttlMs must be a non-negative integer/ });
    await t.throwsAsync(client.put('sessions', 'k', 'v', { ttlMs: 1.5 }), { instanceOf: TypeError });
  } finally {
    await client.close();
  }
});

test('updateCounter with an increment that is not a safe integer rejects with a TypeError, sending nothing', async (t) => {
  const silent = await silentServer();
  const client = await connect({ nodes: [silent.address] });
  try {
    const at = { type: 'counters', bucket: 'b', key: 'k' };
    let pending: Promise<number> | undefined;
    t.notThrows(() => {
      pending = client.updateCounter(at, 1.5);
    }, 'no synchronous throw');
    await t.throwsAsync(pending!, { instanceOf: TypeError, message: /increment must be a safe integer/ });
    await t.throwsAsync(client.updateCounter(at, Number.MAX_SAFE_INTEGER + 1), { instanceOf: TypeError });
    await t.throwsAsync(client.updateCounter(at, Number.NaN), { instanceOf: TypeError });
  } finally {
    await client.close();
    await silent.close();
  }
});

test('500 concurrent gets pipelined on one connection are each answered with their own key', async (t) => {
  const client = await connect({ nodes: [address], poolSize: 1 });
  try {
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.put('pipelined', `k${i}`, `v${i}`)));
    const keys = Array.from({ length: 500 }, (_, i) => i % 50);
    const replies = await Promise.all(keys.map((i) => client.get('pipelined', `k${i}`)));
    t.is(replies.length, 500);
    for (const [n, reply] of replies.entries()) {
      t.true(reply.found && reply.siblings.length === 1 && reply.siblings[0]!.value.toString() === `v${keys[n]}`, `reply ${n}`);
    }
  } finally {
    await client.close();
  }
});

test('past maxQueuedPerNode a request fails at once with overload', async (t) => {
  const silent = await silentServer();
  const client = await connect({ nodes: [silent.address], poolSize: 1, maxInflightPerConnection: 1, maxQueuedPerNode: 1, timeoutMs: 300 });
  try {
    const first = codeOf(client.get('b', 'k1'));
    const second = codeOf(client.get('b', 'k2'));
    t.is(await codeOf(client.get('b', 'k3')), 'overload');
    t.deepEqual(await Promise.all([first, second]), ['timeout', 'timeout']);
  } finally {
    await client.close();
    await silent.close();
  }
});

test('a node that is not listening is unreachable; a read with a live second node succeeds via the retry', async (t) => {
  const dead = `127.0.0.1:${await freePort()}`;
  const alone = await connect({ nodes: [dead] });
  try {
    t.is(await codeOf(alone.get('b', 'k')), 'unreachable');
    t.is(await codeOf(alone.put('b', 'k', 'v')), 'unreachable');
  } finally {
    await alone.close();
  }
  const setup = await connect({ nodes: [address] });
  await setup.put('retry', 'k', 'v');
  await setup.close();
  const client = await connect({ nodes: [dead, address] });
  try {
    for (let i = 0; i < 4; i++) {
      const read = await client.get('retry', 'k');
      t.true(read.found, `read ${i}`);
    }
    // Writes are never retried: every other write lands on the dead node and fails.
    const writes = await Promise.all([0, 1].map(() => codeOf(client.put('retry', 'w', 'v'))));
    t.deepEqual(writes.sort(), ['no error', 'unreachable']);
  } finally {
    await client.close();
  }
});

test('a node that never answers fails the request with timeout, quickly', async (t) => {
  const silent = await silentServer();
  const client = await connect({ nodes: [silent.address], timeoutMs: 200, poolSize: 1 });
  try {
    const started = Date.now();
    const codes = await Promise.all([codeOf(client.get('b', 'k')), codeOf(client.put('b', 'k', 'v', { timeoutMs: 5000 }))]);
    const elapsedMs = Date.now() - started;
    // The second request shares the connection, so the first one's timeout takes it down too.
    t.deepEqual(codes, ['timeout', 'timeout']);
    t.true(elapsedMs < 1500, `took ${elapsedMs} ms`);
  } finally {
    await client.close();
    await silent.close();
  }
});

test('a reply frame longer than maxReplyFrameBytes is a protocol_error', async (t) => {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(1000, 0);
  header[4] = 10;
  const server = await replyingServer(header);
  const client = await connect({ nodes: [server.address], maxReplyFrameBytes: 100 });
  try {
    t.is(await codeOf(client.get('b', 'k')), 'protocol_error');
  } finally {
    await client.close();
    await server.close();
  }
});

test('a reply of the wrong kind is a protocol_error; after close requests fail with closed', async (t) => {
  const pingResp = Buffer.from([0, 0, 0, 1, 2]);
  const server = await replyingServer(pingResp);
  const client = await connect({ nodes: [server.address] });
  try {
    t.is(await codeOf(client.get('b', 'k')), 'protocol_error');
  } finally {
    await client.close();
    await server.close();
  }
  t.is(await codeOf(client.get('b', 'k')), 'closed');
});

test('limits have defaults and bad values are refused', async (t) => {
  t.deepEqual(defaultClientLimits, { poolSize: 4, timeoutMs: 5000, maxInflightPerConnection: 64, maxQueuedPerNode: 4096, maxReplyFrameBytes: 64 * 1024 * 1024 });
  const client = await connect({ nodes: ['127.0.0.1:1'] });
  t.deepEqual(client.limits, defaultClientLimits);
  await client.close();
  await t.throwsAsync(connect({ nodes: [] }), { instanceOf: TypeError });
  await t.throwsAsync(connect({ nodes: ['nohost'] }), { message: /not host:port/ });
  await t.throwsAsync(connect({ nodes: ['127.0.0.1:8087'], poolSize: 0 }), { message: /poolSize/ });
});
