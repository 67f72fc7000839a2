// Crash durability on real processes: many clients write while the node is SIGKILLed at a
// random moment, again and again; after each restart every acknowledged write must be readable
// with its exact value and context. A second run also drops every byte that was not
// fdatasynced before the kill (what a power loss does and a plain SIGKILL cannot show), and a
// third does that with the vnode hosts on the main thread (vnodeHost main-thread).

import test from 'ava';
import { readdir } from 'node:fs/promises';
import { discardUnsynced } from '../../src/runtime/storage/worker-store.js';
import { freePort, startNodeProcess, tempDataDir } from './process-node.js';
import { seededRandom } from '../../src/core/random.js';

interface KeyState {
  /** The last acknowledged value and the context the write returned. */
  acked: { value: string; context: string } | undefined;
  /** A write whose outcome is unknown (in flight at the kill): it may or may not have landed. */
  unknown: string | undefined;
}

async function writeUntilKilled(url: string, keys: Map<string, KeyState>, clients: number, round: number, stop: { stopped: boolean }): Promise<number> {
  let acked = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let i = 0; !stop.stopped; i++) {
        const key = `c${client}-k${i % 8}`;
        const state = keys.get(key) ?? { acked: undefined, unknown: undefined };
        keys.set(key, state);
        const value = `r${round}-c${client}-i${i}-${'x'.repeat(i % 50)}`;
        state.unknown = value;
        const headers: Record<string, string> = { 'content-type': 'text/plain' };
        if (state.acked) headers['x-ringkv-context'] = state.acked.context;
        try {
          const res = await fetch(`${url}/v1/buckets/crash/keys/${key}`, { method: 'PUT', body: value, headers });
          if (res.status !== 204) throw new Error(`unexpected status ${res.status}: ${await res.text()}`);
          state.acked = { value, context: res.headers.get('x-ringkv-context')! };
          state.unknown = undefined;
          acked++;
        } catch (error) {
          if (!stop.stopped) throw error;
          return; // the node was killed under this request: its outcome stays unknown
        }
      }
    }),
  );
  return acked;
}

async function verify(t: import('ava').ExecutionContext, url: string, keys: Map<string, KeyState>): Promise<void> {
  for (const [key, state] of keys) {
    // r=all: a write cut off by the kill may sit on some replicas only; read the merge of all.
    const res = await fetch(`${url}/v1/buckets/crash/keys/${key}?r=all`);
    const body = await res.text();
    if (state.acked === undefined) {
      t.true(res.status === 404 || (res.status === 200 && body === state.unknown), `${key}: status ${res.status} ${body}`);
      if (res.status === 200) state.acked = { value: body, context: res.headers.get('x-ringkv-context')! };
      state.unknown = undefined;
      continue;
    }
    t.is(res.status, 200, `${key} lost: ${body}`);
    if (body === state.acked.value) {
      t.is(res.headers.get('x-ringkv-context'), state.acked.context, `${key}: context changed`);
    } else {
      t.true(body === state.unknown, `${key}: ${body} is neither the acknowledged value nor the in-flight one`);
      state.acked = { value: body, context: res.headers.get('x-ringkv-context')! };
    }
    state.unknown = undefined;
  }
}

async function crashLoop(t: import('ava').ExecutionContext, rounds: number, seed: number, dropUnsynced: boolean, moreArgs: string[] = []): Promise<void> {
  const random = seededRandom(seed);
  t.log(`seed ${seed}`);
  const data = await tempDataDir(dropUnsynced ? 'crash-unsynced' : 'crash');
  const port = await freePort();
  const env = dropUnsynced ? { RINGKV_FAULT_RECORD_SYNCED_STATE: '1' } : {};
  const args = ['--workers', '2', '--partitions', '16', ...moreArgs];
  const keys = new Map<string, KeyState>();
  let totalAcked = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const node = await startNodeProcess({ dataDir: data.dir, port, env, args });
      try {
        await verify(t, node.url, keys);
        const stop = { stopped: false };
        const writing = writeUntilKilled(node.url, keys, 12, round, stop);
        await new Promise((r) => setTimeout(r, 50 + random() * 400));
        stop.stopped = true;
        await node.kill('SIGKILL');
        totalAcked += await writing;
      } finally {
        await node.kill('SIGKILL');
      }
      if (dropUnsynced) {
        for (const name of await readdir(data.dir)) {
          if (name.startsWith('worker-')) await discardUnsynced(`${data.dir}/${name}`);
        }
      }
    }
    const node = await startNodeProcess({ dataDir: data.dir, port, env, args });
    try {
      await verify(t, node.url, keys);
    } finally {
      await node.kill('SIGTERM');
    }
    t.log(`${rounds} kills, ${totalAcked} acknowledged writes, ${keys.size} keys, none lost`);
    t.true(totalAcked > rounds * 10, 'the workload made progress');
  } finally {
    await data.remove();
  }
}

test.serial('SIGKILL at random moments loses no acknowledged write (20 rounds)', async (t) => {
  t.timeout(180_000);
  await crashLoop(t, 20, Number(process.env['RINGKV_TEST_SEED'] ?? Date.now() % 100000), false);
});

test.serial('dropping every byte not fdatasynced before the kill loses no acknowledged write', async (t) => {
  t.timeout(180_000);
  await crashLoop(t, 8, Number(process.env['RINGKV_TEST_SEED'] ?? (Date.now() + 1) % 100000), true);
});

test.serial('with the vnode hosts on the main thread: a kill and the loss of every unsynced byte lose no acknowledged write', async (t) => {
  t.timeout(180_000);
  await crashLoop(t, 8, Number(process.env['RINGKV_TEST_SEED'] ?? (Date.now() + 2) % 100000), true, ['--vnode-host', 'main-thread']);
});
