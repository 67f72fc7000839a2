// Conditional writes on a real three-node cluster: many clients race to create the same keys
// (If-None-Match: * over HTTP, if_none_match over protocol buffers) and to replace them from the
// same read (If-Match: <context>, if_not_modified), each through any of the three nodes. The
// condition is decided by the replica that applies the write, the first replica of the key's
// preference list on every node, so at most one racer per key wins, and a later read returns its
// value and nothing else. The same cluster, started with low soft and hard bounds, shows writes
// past warnSiblings / warnObjectBytes counted in /v1/stats and /metrics, and past maxObjectBytes
// refused with 413 object_too_large.

import test from 'ava';
import { RingkvError, connect, type Context, type RingkvClient } from '../../src/client/index.js';
import { type ClusterNodeProcess, startClusterNode, stopAll, waitSettled } from './cluster-harness.js';
import { freePort } from './process-node.js';

const keysPerRound = 20;
const racersPerKey = 8;

interface Outcome {
  readonly racer: number;
  readonly outcome: 'won' | 'lost' | string;
}

function keyUrl(node: ClusterNodeProcess, key: string): string {
  return `${node.url}/v1/buckets/race/keys/${encodeURIComponent(key)}`;
}

async function httpPut(node: ClusterNodeProcess, key: string, value: string, headers: Record<string, string>): Promise<string> {
  const response = await fetch(keyUrl(node, key), { method: 'PUT', body: value, headers: { 'content-type': 'text/plain', ...headers }, signal: AbortSignal.timeout(15_000) });
  const body = await response.text();
  if (response.status === 204) return 'won';
  if (response.status === 412) return 'lost';
  return `HTTP ${response.status} ${body}`;
}

async function pbPut(client: RingkvClient, key: string, value: string, options: { ifNoneMatch?: boolean; ifNotModified?: boolean; context?: Context }): Promise<string> {
  try {
    await client.put('race', key, value, { contentType: 'text/plain', ...options });
    return 'won';
  } catch (error) {
    if (error instanceof RingkvError && error.code === 'precondition_failed') return 'lost';
    return `PB ${String(error)}`;
  }
}

/** Races `racersPerKey` writers on every key at once; returns each key's outcomes. */
async function race(keys: readonly string[], write: (key: string, racer: number) => Promise<string>): Promise<Map<string, Outcome[]>> {
  const results = new Map<string, Outcome[]>();
  await Promise.all(
    keys.flatMap((key) =>
      Array.from({ length: racersPerKey }, async (_, racer) => {
        const outcome = await write(key, racer);
        const list = results.get(key) ?? [];
        list.push({ racer, outcome });
        results.set(key, list);
      }),
    ),
  );
  return results;
}

async function httpRead(node: ClusterNodeProcess, key: string): Promise<{ status: number; value: string; context: string }> {
  const response = await fetch(`${keyUrl(node, key)}?r=all`, { signal: AbortSignal.timeout(15_000) });
  return { status: response.status, value: await response.text(), context: response.headers.get('x-ringkv-context') ?? '' };
}

/** Soft and hard bounds low enough to reach with a few small writes (see the limits test). */
const limitsEnv: NodeJS.ProcessEnv = { RINGKV_WARN_SIBLINGS: '3', RINGKV_WARN_OBJECT_BYTES: '4096', RINGKV_MAX_OBJECT_BYTES: '65536' };

const nodes: ClusterNodeProcess[] = [];
const clients: RingkvClient[] = [];

test.before(async () => {
  const pbPorts = [await freePort(), await freePort(), await freePort()];
  nodes.push(await startClusterNode('a', { extraArgs: ['--pb-port', String(pbPorts[0])], env: limitsEnv }));
  nodes.push(await startClusterNode('b', { join: nodes[0]!.peer, extraArgs: ['--pb-port', String(pbPorts[1])], env: limitsEnv }));
  nodes.push(await startClusterNode('c', { join: nodes[0]!.peer, extraArgs: ['--pb-port', String(pbPorts[2])], env: limitsEnv }));
  await waitSettled(nodes, nodes.map((n) => n.name));
  // One client per node, so a racer's node is chosen by the test, not by the client's rotation.
  for (const port of pbPorts) clients.push(await connect({ nodes: [`127.0.0.1:${port}`], timeoutMs: 15_000 }));
});

test.after.always(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stopAll(nodes);
});

test.serial('racing conditional writers through three nodes: at most one wins per key, and a read returns its value', async (t) => {
  t.timeout(60_000);
  {
    const value = (round: string, key: string, racer: number): string => `${round}:${key}:racer${racer}`;
    const check = async (round: string, outcomes: Map<string, Outcome[]>): Promise<void> => {
      const all = [...outcomes.values()].flat();
      t.log(`${round}: ${outcomes.size} keys, ${all.length} racers, ${all.filter((o) => o.outcome === 'won').length} won, ${all.filter((o) => o.outcome === 'lost').length} refused`);
      for (const [key, list] of outcomes) {
        const winners = list.filter((o) => o.outcome === 'won');
        const other = list.filter((o) => o.outcome !== 'won' && o.outcome !== 'lost');
        t.deepEqual(other, [], `${round} ${key}: every racer either won or was refused with a failed precondition`);
        t.is(winners.length, 1, `${round} ${key}: exactly one of ${racersPerKey} racers wins (${JSON.stringify(list)})`);
        if (winners.length !== 1) continue;
        // Read through a node other than the winner's, from all three replicas.
        const read = await httpRead(nodes[(winners[0]!.racer + 1) % nodes.length]!, key);
        t.is(read.status, 200, `${round} ${key}: one value, no siblings`);
        t.is(read.value, value(round, key, winners[0]!.racer), `${round} ${key}: the winner's value is what a read returns`);
      }
    };

    const httpKeys = Array.from({ length: keysPerRound }, (_, i) => `http-${i}`);
    const created = await race(httpKeys, (key, racer) => httpPut(nodes[racer % nodes.length]!, key, value('create', key, racer), { 'if-none-match': '*' }));
    await check('create', created);

    const pbKeys = Array.from({ length: keysPerRound }, (_, i) => `pb-${i}`);
    const pbCreated = await race(pbKeys, (key, racer) => pbPut(clients[racer % clients.length]!, key, value('pb-create', key, racer), { ifNoneMatch: true }));
    await check('pb-create', pbCreated);

    // Every racer read the same context, then tries to replace the value it saw.
    const httpContexts = new Map<string, string>();
    for (const key of httpKeys) httpContexts.set(key, (await httpRead(nodes[0]!, key)).context);
    const replaced = await race(httpKeys, (key, racer) => httpPut(nodes[racer % nodes.length]!, key, value('if-match', key, racer), { 'if-match': httpContexts.get(key)! }));
    await check('if-match', replaced);

    const pbContexts = new Map<string, Context>();
    for (const key of pbKeys) {
      const read = await clients[0]!.get('race', key);
      if (read.found) pbContexts.set(key, read.context);
    }
    const pbReplaced = await race(pbKeys, (key, racer) => pbPut(clients[racer % clients.length]!, key, value('pb-if-not-modified', key, racer), { ifNotModified: true, context: pbContexts.get(key)! }));
    await check('pb-if-not-modified', pbReplaced);
  }
});

async function stats(node: ClusterNodeProcess): Promise<{ siblingsWarnings: number; objectSizeWarnings: number }> {
  const response = await fetch(`${node.url}/v1/stats`, { signal: AbortSignal.timeout(5000) });
  return (await response.json()) as never;
}

test.serial('writes past the soft bounds are counted in /v1/stats and /metrics; past maxObjectBytes they are refused with 413', async (t) => {
  t.timeout(60_000);
  const node = nodes[0]!;
  const before = await stats(node);
  // Five blind writes make five siblings; from the fourth on, each passes warnSiblings (3).
  for (let i = 0; i < 5; i++) t.is(await httpPut(node, 'many-siblings', `v${i}`, {}), 'won');
  // One value of 5 KiB passes warnObjectBytes (4096).
  t.is(await httpPut(node, 'big-value', 'x'.repeat(5 * 1024), {}), 'won');
  const after = await stats(node);
  t.is(after.siblingsWarnings - before.siblingsWarnings, 2);
  t.is(after.objectSizeWarnings - before.objectSizeWarnings, 1);
  const metrics = await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  t.regex(metrics, /^ringkv_siblings_warnings \d+$/m);
  t.regex(metrics, /^ringkv_object_size_warnings \d+$/m);

  // Blind writes of 20 KiB: the fourth would leave an object over 64 KiB, and is refused.
  const outcomes: string[] = [];
  for (let i = 0; i < 4; i++) outcomes.push(await httpPut(node, 'too-large', String(i).repeat(20 * 1024), {}));
  t.deepEqual(outcomes.slice(0, 3), ['won', 'won', 'won']);
  t.regex(outcomes[3]!, /^HTTP 413 .*object_too_large/);
  // Writing back with the context of a read resolves the siblings, so the same write now fits.
  const read = await fetch(keyUrl(node, 'too-large'), { signal: AbortSignal.timeout(5000) });
  t.is(read.status, 300);
  t.is(await httpPut(node, 'too-large', '3'.repeat(20 * 1024), { 'x-ringkv-context': read.headers.get('x-ringkv-context')! }), 'won');
});
