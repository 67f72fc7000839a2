// Where the vnode hosts run (vnodeHost): the data directory is the same either way, so a node can
// be restarted in the other mode; a main-thread host cannot be killed apart from its node; and a
// bad value is refused. The request path itself runs in both modes in node.test.ts.

import test from 'ava';
import { loadConfig } from '../../../src/runtime/config.js';
import { bytes, startTestNode, text } from './harness.js';

const key = (k: string) => ({ type: 'default', bucket: bytes('b'), key: bytes(k) });
const content = (v: string) => ({ value: bytes(v), contentType: 'text/plain', userMeta: [] });

test('a data directory moves between worker-thread and main-thread hosts, contexts and all', async (t) => {
  let current = await startTestNode({ vnodeHost: 'worker-threads' });
  try {
    const contexts = new Map<string, Uint8Array>();
    for (let i = 0; i < 40; i++) {
      const put = await current.node.kv.put({ key: key(`k${i}`), context: undefined, content: content(`threads-${i}`), returnBody: true });
      t.true(put.ok);
      if (put.ok) contexts.set(`k${i}`, put.value.context);
    }
    const identities = current.node.supervisor.actorIds();
    current = await current.restart({ vnodeHost: 'main-thread' });
    t.deepEqual(current.node.supervisor.actorIds(), identities, 'a clean stop keeps the vnode identities');
    for (let i = 0; i < 40; i++) {
      const read = await current.node.kv.get({ key: key(`k${i}`), r: 'all' });
      t.true(read.ok && read.value.found && text(read.value.contents[0]!.value) === `threads-${i}`);
      // The context read back supersedes: the write replaces the value instead of adding a sibling.
      const put = await current.node.kv.put({ key: key(`k${i}`), context: contexts.get(`k${i}`), content: content(`main-${i}`) });
      t.true(put.ok);
    }
    current = await current.restart({ vnodeHost: 'worker-threads' });
    for (let i = 0; i < 40; i++) {
      const read = await current.node.kv.get({ key: key(`k${i}`), r: 'all' });
      t.true(read.ok && read.value.found && read.value.contents.length === 1 && text(read.value.contents[0]!.value) === `main-${i}`);
    }
  } finally {
    await current.cleanup();
  }
});

test('a host on the main thread cannot be killed apart from its node, and says why', async (t) => {
  const { node, cleanup } = await startTestNode({ vnodeHost: 'main-thread' });
  try {
    await t.throwsAsync(node.supervisor.killWorker(0), { message: /main thread cannot be killed apart from its node/ });
    t.true((await node.kv.put({ key: key('still'), context: undefined, content: content('serving') })).ok);
    const stats = (await node.stats()) as { vnodeHost: string; workers: { workerIndex: number; requestsHandled: number }[] };
    t.is(stats.vnodeHost, 'main-thread');
    t.deepEqual(stats.workers.map((w) => w.workerIndex), [0, 1]);
    t.true(stats.workers.every((w) => w.requestsHandled > 0));
  } finally {
    await cleanup();
  }
});

test('vnodeHost accepts worker-threads and main-thread only, from flags and the environment', (t) => {
  t.is(loadConfig({ flags: {}, env: {} }).vnodeHost, 'worker-threads');
  t.is(loadConfig({ flags: {}, env: { RINGKV_VNODE_HOST: 'main-thread' } }).vnodeHost, 'main-thread');
  t.throws(() => loadConfig({ flags: { vnodeHost: 'inline' }, env: {} }), { message: /vnodeHost: must be one of worker-threads, main-thread, got "inline" \(from flag --vnode-host\)/ });
});
