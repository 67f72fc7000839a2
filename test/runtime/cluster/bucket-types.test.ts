// Bucket types at run time on in-process nodes: created and changed on one node, in force on
// every node within seconds; bad properties and an n_val change on a type holding data refused.

import test from 'ava';
import { freePort } from '../../integration/process-node.js';
import { type TestNode, startTestNode } from '../node/harness.js';

const fast = { RINGKV_GOSSIP_INTERVAL_MS: '100', RINGKV_HANDOFF_GRACE_MS: '200', RINGKV_HEARTBEAT_INTERVAL_MS: '100' };

async function node(name: string, join?: string): Promise<TestNode> {
  return startTestNode({ nodeName: `${name}@127.0.0.1`, peerPort: await freePort(), httpPort: await freePort(), partitions: 16, ...(join === undefined ? {} : { join }) }, undefined, fast);
}

const url = (n: TestNode): string => n.node.addresses.http!;

/** fetch with a deadline, so a request that never completes fails the test with a reason. */
function fetch(input: string, init: RequestInit = {}): Promise<Response> {
  return globalThis.fetch(input, { ...init, signal: AbortSignal.timeout(15_000) });
}

async function putType(n: TestNode, name: string, props: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${url(n)}/v1/types/${name}`, { method: 'PUT', body: JSON.stringify({ props }) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - started;
}

test.serial('a type created on one node is in force on the others within seconds; a change too', async (t) => {
  const a = await node('a');
  const b = await node('b', a.node.addresses.peer);
  try {
    await until(
      'b joined and the cluster settled',
      async () => {
        const views = await Promise.all([a, b].map(async (n) => (await (await fetch(`${url(n)}/v1/cluster/status`)).json()) as { members: { status: string; staged: boolean }[]; pendingTransfers: number }));
        return views.every((v) => v.members.length === 2 && v.members.every((m) => m.status === 'valid' && !m.staged) && v.pendingTransfers === 0);
      },
      30_000,
    );
    const created = await putType(a, 'carts', { allowMult: false, nVal: 2 });
    t.is(created.status, 200, JSON.stringify(created.body));
    t.is((created.body['props'] as { allowMult: boolean }).allowMult, false);
    const spreadMs = await until('b knows carts', async () => (await fetch(`${url(b)}/v1/types/carts`)).status === 200);
    t.log(`the new type reached the other node in ${spreadMs} ms`);
    // In force on b: two blind writes leave one value (allowMult false).
    for (const v of ['one', 'two']) t.is((await fetch(`${url(b)}/v1/types/carts/buckets/x/keys/k`, { method: 'PUT', body: v })).status, 204);
    const single = await fetch(`${url(a)}/v1/types/carts/buckets/x/keys/k`);
    t.is(single.status, 200);
    t.is(await single.text(), 'two');
    // Changed on b, in force on a: now blind writes become siblings.
    t.is((await putType(b, 'carts', { allowMult: true })).status, 200);
    await until('a sees allowMult true', async () => ((await (await fetch(`${url(a)}/v1/types/carts`)).json()) as { props: { allowMult: boolean } }).props.allowMult);
    for (const v of ['three', 'four']) t.is((await fetch(`${url(a)}/v1/types/carts/buckets/x/keys/m`, { method: 'PUT', body: v })).status, 204);
    t.is((await fetch(`${url(b)}/v1/types/carts/buckets/x/keys/m`)).status, 300, 'siblings kept');
    const list = (await (await fetch(`${url(b)}/v1/types`)).json()) as { types: { name: string }[] };
    t.deepEqual(list.types.map((x) => x.name), ['carts', 'default']);
  } finally {
    await Promise.allSettled([b.cleanup(), a.cleanup()]);
  }
});

test.serial('bad properties and an n_val change on a type holding data are refused with the reason', async (t) => {
  const a = await node('a');
  try {
    const unknown = await putType(a, 'x', { nval: 3 });
    t.is(unknown.status, 400);
    t.regex((unknown.body['error'] as { message: string }).message, /nval.*nVal/s);
    const badQuorum = await putType(a, 'x', { nVal: 2, w: 3 });
    t.is(badQuorum.status, 400);
    t.regex((badQuorum.body['error'] as { message: string }).message, /w: must be from 1 to nVal \(2\)/);
    const both = await putType(a, 'x', { allowMult: true, lastWriteWins: true });
    t.is(both.status, 400);
    t.is((await fetch(`${url(a)}/v1/types/x`)).status, 404, 'nothing was created');
    const badName = await fetch(`${url(a)}/v1/types/${encodeURIComponent('no spaces')}`, { method: 'PUT', body: '{"props":{}}' });
    t.is(badName.status, 400);
    t.is((await fetch(`${url(a)}/v1/types/x`, { method: 'PUT', body: '{"props"' })).status, 400);

    t.is((await putType(a, 'sessions', { nVal: 3 })).status, 200);
    t.is((await putType(a, 'sessions', { nVal: 2 })).status, 200, 'no data yet: n_val may change');
    t.is((await fetch(`${url(a)}/v1/types/sessions/buckets/s/keys/k`, { method: 'PUT', body: 'v' })).status, 204);
    const refused = await putType(a, 'sessions', { nVal: 3 });
    t.is(refused.status, 400);
    t.regex((refused.body['error'] as { message: string }).message, /n_val of bucket type sessions cannot change from 2 to 3: it holds data/);
    t.is((await putType(a, 'sessions', { allowMult: false })).status, 200, 'other properties still change');
  } finally {
    await a.cleanup();
  }
});

test.serial('datatype, ttl and the soft and size bounds are validated; a datatype is fixed when the type is created', async (t) => {
  const a = await node('a');
  try {
    const badType = await putType(a, 'c', { datatype: 'map' });
    t.is(badType.status, 400);
    t.regex((badType.body['error'] as { message: string }).message, /datatype/);
    const noMult = await putType(a, 'c', { datatype: 'counter', allowMult: false });
    t.is(noMult.status, 400);
    t.regex((noMult.body['error'] as { message: string }).message, /needs allowMult true/);
    const warnAbove = await putType(a, 'c', { maxSiblings: 10, warnSiblings: 11 });
    t.is(warnAbove.status, 400);
    t.regex((warnAbove.body['error'] as { message: string }).message, /warnSiblings: must be at most maxSiblings \(10\)/);
    const sizeAbove = await putType(a, 'c', { maxObjectBytes: 1000, warnObjectBytes: 2000 });
    t.is(sizeAbove.status, 400);
    t.is((await putType(a, 'c', { ttlMs: -1 })).status, 400);

    const created = await putType(a, 'c', { datatype: 'counter', ttlMs: 60_000, warnSiblings: 5, maxObjectBytes: 4096, warnObjectBytes: 1024 });
    t.is(created.status, 200);
    const props = created.body['props'] as Record<string, unknown>;
    t.like(props, { datatype: 'counter', ttlMs: 60_000, warnSiblings: 5, maxObjectBytes: 4096, warnObjectBytes: 1024 });
    const changed = await putType(a, 'c', { datatype: 'set' });
    t.is(changed.status, 400);
    t.regex((changed.body['error'] as { message: string }).message, /datatype of bucket type c is fixed/);
    t.is((await putType(a, 'c', { ttlMs: 0 })).status, 200, 'other properties still change');
  } finally {
    await a.cleanup();
  }
});
