// Cluster administration over HTTP on in-process nodes: staging, planning and committing, and
// every refusal with its reason.

import test from 'ava';
import { freePort } from '../../integration/process-node.js';
import { type TestNode, startTestNode } from '../node/harness.js';

async function clusterNode(name: string, more: Record<string, string | number> = {}, env: NodeJS.ProcessEnv = {}): Promise<TestNode> {
  return startTestNode({ nodeName: `${name}@127.0.0.1`, peerPort: await freePort(), httpPort: await freePort(), partitions: 16, ...more }, undefined, { RINGKV_GOSSIP_INTERVAL_MS: '100', RINGKV_HANDOFF_GRACE_MS: '200', ...env });
}

function http(node: TestNode): string {
  return node.node.addresses.http!;
}

async function call(node: TestNode, method: string, action: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${http(node)}/v1/cluster/${action}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function errorOf(answer: { body: Record<string, unknown> }): { code: string; message: string } {
  return answer.body['error'] as { code: string; message: string };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.serial('join stages, plan shows the moves, commit applies them, transfers complete', async (t) => {
  const a = await clusterNode('a');
  const b = await clusterNode('b');
  try {
    const put = await fetch(`${http(a)}/v1/buckets/carts/keys/alice`, { method: 'PUT', body: 'apples' });
    t.is(put.status, 204);
    const joined = await call(b, 'POST', 'join', { seed: a.node.addresses.peer });
    t.is(joined.status, 200, JSON.stringify(joined.body));
    t.deepEqual(joined.body['members'], ['a@127.0.0.1', 'b@127.0.0.1']);
    const plan = await call(a, 'GET', 'plan');
    t.deepEqual(plan.body['joining'], ['b@127.0.0.1']);
    t.is((plan.body['moves'] as unknown[]).length, 8);
    const status = await call(b, 'GET', 'status');
    const member = (status.body['members'] as { name: string; status: string; staged: boolean }[]).find((m) => m.name === 'b@127.0.0.1')!;
    t.deepEqual([member.status, member.staged], ['joining', true]);
    // Committing through the non-claimant is forwarded to the claimant.
    const committed = await call(b, 'POST', 'commit');
    t.is(committed.status, 200, JSON.stringify(committed.body));
    await until('transfers to finish', async () => {
      const s = await call(b, 'GET', 'status');
      return s.body['pendingTransfers'] === 0 && (s.body['members'] as { partitionsOwned: number }[]).every((m) => m.partitionsOwned === 8);
    });
    const ring = await call(a, 'GET', 'ring');
    t.is((ring.body['owners'] as { owner: string }[]).filter((o) => o.owner === 'b@127.0.0.1').length, 8);
    const read = await fetch(`${http(b)}/v1/buckets/carts/keys/alice?r=all`);
    t.is(read.status, 200);
    t.is(await read.text(), 'apples');
  } finally {
    await b.cleanup();
    await a.cleanup();
  }
});

test.serial('refusals: another Q, a node holding data, nothing staged, unknown members, bad bodies, a wrong secret', async (t) => {
  const a = await clusterNode('a');
  const otherQ = await clusterNode('q', { partitions: 32 });
  const full = await clusterNode('f');
  const stranger = await clusterNode('s', {}, { RINGKV_CLUSTER_SECRET: 'a-different-secret-of-enough-length' });
  try {
    const q = await call(otherQ, 'POST', 'join', { seed: a.node.addresses.peer });
    t.is(q.status, 400);
    t.regex(errorOf(q).message, /partition count mismatch: the cluster has 16 partitions, q@127.0.0.1 has 32/);

    t.is((await fetch(`${http(full)}/v1/buckets/b/keys/k`, { method: 'PUT', body: 'v' })).status, 204);
    const holding = await call(full, 'POST', 'join', { seed: a.node.addresses.peer });
    t.is(holding.status, 400);
    t.regex(errorOf(holding).message, /holds data; only an empty node can join/);

    const wrongSecret = await call(stranger, 'POST', 'join', { seed: a.node.addresses.peer });
    t.is(wrongSecret.status, 503);
    t.regex(errorOf(wrongSecret).message, /authentication failed/);

    const self = await call(a, 'POST', 'join', { seed: a.node.addresses.peer });
    t.is(self.status, 400);
    const badSeed = await call(a, 'POST', 'join', { seed: 'not an address' });
    t.is(badSeed.status, 400);
    t.regex(errorOf(badSeed).message, /host:port/);
    t.is((await call(a, 'POST', 'join', {})).status, 400);
    const malformed = await call(a, 'POST', 'join', '{"seed":');
    t.is(malformed.status, 400);
    t.is(errorOf(malformed).code, 'malformed_json');

    const nothing = await call(a, 'POST', 'commit');
    t.is(nothing.status, 400);
    t.regex(errorOf(nothing).message, /nothing is staged/);
    const unknown = await call(a, 'POST', 'leave', { node: 'nobody@127.0.0.1' });
    t.is(unknown.status, 400);
    const last = await call(a, 'POST', 'leave');
    t.is(last.status, 400);
    t.regex(errorOf(last).message, /last member/);
    t.is((await fetch(`${http(a)}/v1/cluster/commit`)).status, 405);
    t.is((await fetch(`${http(a)}/v1/cluster/nonsense`)).status, 404);
  } finally {
    await Promise.all([a.cleanup(), otherQ.cleanup(), full.cleanup(), stranger.cleanup()]);
  }
});

test.serial('clear withdraws a staged join; the withdrawn node owns nothing', async (t) => {
  const a = await clusterNode('a');
  const b = await clusterNode('b');
  try {
    t.is((await call(b, 'POST', 'join', { seed: a.node.addresses.peer })).status, 200);
    t.is((await call(a, 'POST', 'clear')).status, 200);
    const plan = await call(a, 'GET', 'plan');
    t.deepEqual(plan.body['joining'], []);
    t.is((await call(a, 'POST', 'commit')).status, 400);
    const status = await call(a, 'GET', 'status');
    const bMember = (status.body['members'] as { name: string; status: string; partitionsOwned: number }[]).find((m) => m.name === 'b@127.0.0.1')!;
    t.is(bMember.status, 'left');
    t.is(bMember.partitionsOwned, 0);
  } finally {
    await b.cleanup();
    await a.cleanup();
  }
});

test.serial('a node restarted on its data directory keeps its cluster; another cluster name is refused', async (t) => {
  const a = await clusterNode('a');
  let b = await clusterNode('b');
  try {
    t.is((await call(b, 'POST', 'join', { seed: a.node.addresses.peer })).status, 200);
    t.is((await call(b, 'POST', 'commit')).status, 200);
    await until('settled', async () => (await call(a, 'GET', 'status')).body['pendingTransfers'] === 0);
    b = await b.restart({ peerPort: await freePort() });
    const status = await call(b, 'GET', 'status');
    t.deepEqual((status.body['members'] as { name: string }[]).map((m) => m.name), ['a@127.0.0.1', 'b@127.0.0.1']);
    // The new peer address reaches a through gossip.
    await until('a learns b\'s new address', async () => {
      const s = await call(a, 'GET', 'status');
      return (s.body['members'] as { name: string; peerAddress: string; connected: boolean }[]).some((m) => m.name === 'b@127.0.0.1' && m.peerAddress === b.node.addresses.peer && m.connected);
    });
    await t.throwsAsync(() => b.restart({ clusterName: 'elsewhere' }), { message: /belongs to cluster "ringkv", not "elsewhere"/ });
  } finally {
    await b.cleanup().catch(() => undefined);
    await a.cleanup();
  }
});

test.serial('a transfer interrupted by a restart of the sending node resumes and completes; nothing is lost', async (t) => {
  t.timeout(120_000);
  const slow = { RINGKV_HANDOFF_BATCH_ITEMS: '4', RINGKV_HANDOFF_CONCURRENCY: '1' };
  let a = await clusterNode('a', {}, slow);
  const b = await clusterNode('b');
  try {
    const keys = Array.from({ length: 1200 }, (_, i) => `k${i}`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map(async (k) => t.is((await fetch(`${http(a)}/v1/buckets/b/keys/${k}`, { method: 'PUT', body: `v-${k}` })).status, 204)));
    }
    t.is((await call(b, 'POST', 'join', { seed: a.node.addresses.peer })).status, 200);
    t.is((await call(b, 'POST', 'commit')).status, 200);
    await until('a transfer under way', async () => {
      const s = await call(a, 'GET', 'status');
      return (s.body['transfers'] as { phase: string; keysSent: number }[]).some((tr) => tr.phase === 'sending' && tr.keysSent > 0);
    });
    a = await a.restart({ peerPort: await freePort() });
    const resumed = await call(a, 'GET', 'status');
    t.true((resumed.body['pendingTransfers'] as number) > 0, 'the restarted node still owes transfers');
    await until('transfers to finish after the restart', async () => (await call(b, 'GET', 'status')).body['pendingTransfers'] === 0, 90_000);
    for (const k of keys) {
      const read = await fetch(`${http(b)}/v1/buckets/b/keys/${k}?r=all`);
      t.is(read.status, 200, k);
      t.is(await read.text(), `v-${k}`);
    }
  } finally {
    await b.cleanup();
    await a.cleanup();
  }
});

test.serial('a node started with --join serves no request until it has joined, and says why', async (t) => {
  // The seed does not answer yet: the joiner keeps retrying and refuses requests meanwhile.
  const seedPort = await freePort();
  const joiner = await clusterNode('j', { join: `127.0.0.1:${seedPort}` });
  let a: TestNode | undefined;
  let holder: TestNode | undefined;
  try {
    const early = await fetch(`${http(joiner)}/v1/buckets/carts/keys/alice`, { method: 'PUT', body: 'apples' });
    t.is(early.status, 503);
    t.regex(((await early.json()) as { error: { message: string } }).error.message, /joining the cluster at 127\.0\.0\.1:\d+ \(--join\)/);
    a = await clusterNode('a', { peerPort: seedPort });
    // Once the seed is up, the join and its commit go through and the node serves.
    await until('the joiner to serve requests', async () => (await fetch(`${http(joiner)}/v1/buckets/carts/keys/alice`, { method: 'PUT', body: 'apples' })).status === 204, 30_000);
    const read = await fetch(`${http(a!)}/v1/buckets/carts/keys/alice`);
    t.is(read.status, 200, 'the write went to the cluster, not to a ring of its own');

    // A node holding data is refused by the seed for good: it says so instead of serving alone.
    holder = await clusterNode('h');
    t.is((await fetch(`${http(holder)}/v1/buckets/carts/keys/bob`, { method: 'PUT', body: 'pears' })).status, 204);
    holder = await holder.restart({ join: a!.node.addresses.peer! });
    await until('the refusal to be known', async () => {
      const answer = await fetch(`${http(holder!)}/v1/buckets/carts/keys/bob`);
      return answer.status === 503 && /could not join/.test(((await answer.json()) as { error: { message: string } }).error.message);
    });
    t.pass();
  } finally {
    await Promise.all([joiner, a, holder].map((n) => n?.cleanup().catch(() => undefined)));
  }
});
