// The node's request path end to end (service → coordinators → vnode hosts → WAL + LMDB),
// without a front end: siblings and contexts, replicas, read repair, restarts in each
// durability mode, and the data-directory checks.

import test from 'ava';
import { decodeContext } from '../../../src/core/codec.js';
import { encodeStorageKey } from '../../../src/core/codec.js';
import { partitionOf } from '../../../src/core/ring.js';
import { startNode } from '../../../src/runtime/node.js';
import { loadConfig } from '../../../src/runtime/config.js';
import { createLogger } from '../../../src/runtime/log.js';
import { bytes, startTestNode, text } from './harness.js';

const key = (k: string, type = 'default') => ({ type, bucket: bytes('b'), key: bytes(k) });
const content = (v: string) => ({ value: bytes(v), contentType: 'text/plain', userMeta: [{ key: 'who', value: 'test' }] });

// Every test runs twice: with the vnode hosts on worker threads (the default) and on the main
// thread (vnodeHost main-thread); the request path must behave the same in both.
for (const vnodeHost of ['worker-threads', 'main-thread'] as const) {
  const suffix = vnodeHost === 'worker-threads' ? '' : ' [vnode hosts on the main thread]';
  const start: typeof startTestNode = (flags = {}, dataDir, env) => startTestNode({ vnodeHost, ...flags }, dataDir, env);
  test(`siblings from blind writes, resolved by a write with the read context${suffix}`, async (t) => {
    const { node, cleanup } = await start();
    try {
      const kv = node.kv;
      t.true((await kv.put({ key: key('k'), context: undefined, content: content('one') })).ok);
      t.true((await kv.put({ key: key('k'), context: undefined, content: content('two') })).ok);
      const read = await kv.get({ key: key('k') });
      t.true(read.ok && read.value.found);
      if (!read.ok || !read.value.found) return;
      t.deepEqual(read.value.contents.map((c) => text(c.value)).sort(), ['one', 'two']);
      t.deepEqual(read.value.contents[0]!.userMeta, [{ key: 'who', value: 'test' }]);
      const resolved = await kv.put({ key: key('k'), context: read.value.context, content: content('merged'), returnBody: true });
      t.true(resolved.ok);
      if (resolved.ok) t.deepEqual(resolved.value.contents?.map((c) => text(c.value)), ['merged']);
      const after = await kv.get({ key: key('k'), r: 'all' });
      t.true(after.ok && after.value.found && after.value.contents.length === 1 && text(after.value.contents[0]!.value) === 'merged');
    } finally {
      await cleanup();
    }
  });

  test(`an overwrite supersedes every sibling the replicas hold, with no context; it refuses one${suffix}`, async (t) => {
    const { node, cleanup } = await start();
    try {
      const kv = node.kv;
      t.true((await kv.put({ key: key('o'), context: undefined, content: content('one') })).ok);
      t.true((await kv.put({ key: key('o'), context: undefined, content: content('two') })).ok);
      const over = await kv.put({ key: key('o'), context: undefined, overwrite: true, content: content('three'), returnBody: true });
      t.true(over.ok);
      if (over.ok) t.deepEqual(over.value.contents?.map((c) => text(c.value)), ['three']);
      const after = await kv.get({ key: key('o'), r: 'all' });
      t.true(after.ok && after.value.found && after.value.contents.length === 1 && text(after.value.contents[0]!.value) === 'three', 'one value on every replica');
      // if_none_match is still decided where the write is applied.
      const taken = await kv.put({ key: key('o'), context: undefined, overwrite: true, ifNoneMatch: true, content: content('four') });
      t.is(taken.ok ? 'ok' : taken.error.code, 'precondition_failed');
      if (!after.ok) return;
      // if_present: the other condition decided there (Redis SET XX).
      const absent = await kv.put({ key: key('o-missing'), context: undefined, overwrite: true, ifPresent: true, content: content('x') });
      t.is(absent.ok ? 'ok' : absent.error.code, 'precondition_failed');
      const missing = await kv.get({ key: key('o-missing') });
      t.true(missing.ok && !missing.value.found, 'nothing written');
      const present = await kv.put({ key: key('o'), context: undefined, overwrite: true, ifPresent: true, content: content('three') });
      t.true(present.ok, 'a key holding a value takes it');
      const withContext = await kv.put({ key: key('o'), context: after.value.context, overwrite: true, content: content('five') });
      t.is(withContext.ok ? 'ok' : withContext.error.code, 'invalid_request');
      const read = await kv.get({ key: key('o') });
      t.true(read.ok && read.value.found && text(read.value.contents[0]!.value) === 'three', 'nothing written by the refused ones');
    } finally {
      await cleanup();
    }
  });

  test(`puts refused by their coordinating replica free the in-flight slots of its local replicas too${suffix}`, async (t) => {
    // A put to partition p carries the replicas on p's worker as localReplicas; a refused put (here
    // if_none_match on a key that holds a value, what Redis SET NX sends) must not leave them counted
    // in flight: past workerInflightMax the worker answered overload to everything.
    const { node, cleanup } = await start({}, undefined, { RINGKV_WORKER_INFLIGHT_MAX: '8' });
    try {
      const kv = node.kv;
      t.true((await kv.put({ key: key('taken'), context: undefined, content: content('v') })).ok);
      const codes = new Set<string>();
      for (let i = 0; i < 30; i++) {
        const refused = await kv.put({ key: key('taken'), context: undefined, overwrite: true, ifNoneMatch: true, content: content(`again-${i}`) });
        codes.add(refused.ok ? 'ok' : refused.error.code);
      }
      t.deepEqual([...codes], ['precondition_failed']);
      t.true((await kv.put({ key: key('other'), context: undefined, content: content('w') })).ok, 'writes still go through');
      const read = await kv.get({ key: key('taken'), r: 'all' });
      t.true(read.ok && read.value.found && text(read.value.contents[0]!.value) === 'v', 'and reads');
    } finally {
      await cleanup();
    }
  });

  test(`a delete with the read context leaves a tombstone whose context supersedes it${suffix}`, async (t) => {
    const { node, cleanup } = await start();
    try {
      const kv = node.kv;
      await kv.put({ key: key('d'), context: undefined, content: content('v') });
      const read = await kv.get({ key: key('d') });
      t.true(read.ok && read.value.found);
      if (!read.ok) return;
      const deleted = await kv.delete({ key: key('d'), context: read.value.context });
      t.true(deleted.ok);
      const gone = await kv.get({ key: key('d') });
      t.true(gone.ok && !gone.value.found && gone.value.context !== undefined, 'not found, with a context');
      const missing = await kv.get({ key: key('never') });
      t.deepEqual(missing, { ok: true, value: { found: false, context: undefined } });
      if (gone.ok && !gone.value.found) {
        const again = await kv.put({ key: key('d'), context: gone.value.context, content: content('back') });
        t.true(again.ok);
        const read2 = await kv.get({ key: key('d') });
        t.true(read2.ok && read2.value.found && read2.value.contents.length === 1);
      }
    } finally {
      await cleanup();
    }
  });

  test(`n_val replicas live on consecutive partitions; the context advances once per write${suffix}`, async (t) => {
    const { node, cleanup } = await start();
    try {
      const put = await node.kv.put({ key: key('r'), context: undefined, content: content('x'), w: 'all' });
      t.true(put.ok);
      if (!put.ok) return;
      const vv = decodeContext(put.value.context);
      t.is(vv.length, 1, 'one actor (the coordinating vnode) advanced the context');
      t.is(vv[0]!.counter, 1);
      const one = await node.kv.put({ key: key('r1'), context: undefined, content: content('x'), nVal: 1, w: 1 });
      t.true(one.ok);
      const tooMany = await node.kv.put({ key: key('r'), context: undefined, content: content('x'), nVal: 4 });
      t.false(tooMany.ok);
      if (!tooMany.ok) t.is(tooMany.error.code, 'invalid_request');
      t.true(partitionOf(encodeStorageKey(key('r')), 16) < 16);
    } finally {
      await cleanup();
    }
  });

  test(`request checks: unknown bucket type, key and value limits, bad context; nothing written${suffix}`, async (t) => {
    const { node, cleanup } = await start({ maxValueBytes: 1000, maxRequestBodyBytes: 2000, maxKeyBytes: 10 });
    try {
      const cases = [
        [{ key: key('k', 'nope'), context: undefined, content: content('v') }, 'unknown_bucket_type'],
        [{ key: key('k'.repeat(11)), context: undefined, content: content('v') }, 'key_too_large'],
        [{ key: key('k'), context: undefined, content: { value: new Uint8Array(1001), contentType: 'x', userMeta: [] } }, 'value_too_large'],
        [{ key: key('k'), context: Uint8Array.of(7, 7), content: content('v') }, 'invalid_request'],
        [{ key: key(''), context: undefined, content: content('v') }, 'invalid_request'],
        [{ key: key('k'), context: undefined, content: content('v'), w: 0 }, 'invalid_request'],
      ] as const;
      for (const [request, code] of cases) {
        const result = await node.kv.put(request);
        t.false(result.ok);
        if (!result.ok) t.is(result.error.code, code, result.error.message);
      }
      const read = await node.kv.get({ key: key('k') });
      t.true(read.ok && !read.value.found, 'nothing was written by the rejected requests');
    } finally {
      await cleanup();
    }
  });

  test(`content type and user metadata limits count UTF-8 bytes; nothing is written past them${suffix}`, async (t) => {
    const { node, cleanup } = await start({ maxContentTypeBytes: 20, maxUserMetaBytes: 30 });
    try {
      const kv = node.kv;
      const put = (name: string, contentType: string, userMeta: { key: string; value: string }[]) => kv.put({ key: key(name), context: undefined, content: { value: bytes('v'), contentType, userMeta } });
      // 'é' is two bytes, '€' three: ten of the first fit in 20 bytes, seven of the second do not.
      t.true((await put('ct-ok', 'é'.repeat(10), [])).ok);
      const long = await put('ct-long', '€'.repeat(7), []);
      t.false(long.ok);
      if (!long.ok) t.is(long.error.code, 'invalid_request');
      t.true((await put('meta-ok', 'text/plain', [{ key: 'k', value: '€'.repeat(9) }])).ok, '1 + 27 bytes');
      const meta = await put('meta-long', 'text/plain', [{ key: 'kk', value: '€'.repeat(10) }]);
      t.false(meta.ok, '2 + 30 bytes');
      if (!meta.ok) t.regex(meta.error.message, /user metadata is 32 bytes, the limit is 30/);
      for (const name of ['ct-long', 'meta-long']) {
        const read = await kv.get({ key: key(name), r: 'all' });
        t.true(read.ok && !read.value.found, `${name} was not written`);
      }
    } finally {
      await cleanup();
    }
  });

  test(`too many siblings is refused with a clear error and writes nothing${suffix}`, async (t) => {
    const { node, cleanup } = await start({ maxSiblings: 3 });
    try {
      for (let i = 0; i < 3; i++) t.true((await node.kv.put({ key: key('s'), context: undefined, content: content(`v${i}`) })).ok);
      const refused = await node.kv.put({ key: key('s'), context: undefined, content: content('v3') });
      t.false(refused.ok);
      if (!refused.ok) t.is(refused.error.code, 'too_many_siblings');
      const read = await node.kv.get({ key: key('s'), r: 'all' });
      t.true(read.ok && read.value.found && read.value.contents.length === 3);
    } finally {
      await cleanup();
    }
  });

  for (const durability of ['fsync', 'interval', 'none'] as const) {
    test(`durability=${durability}: data survives a clean restart${suffix}`, async (t) => {
      let current = await start({ durability });
      try {
        for (let i = 0; i < 50; i++) t.true((await current.node.kv.put({ key: key(`k${i}`), context: undefined, content: content(`v${i}`) })).ok);
        current = await current.restart();
        for (let i = 0; i < 50; i++) {
          const read = await current.node.kv.get({ key: key(`k${i}`), r: 'all' });
          t.true(read.ok && read.value.found && text(read.value.contents[0]!.value) === `v${i}`);
        }
      } finally {
        await current.cleanup();
      }
    });
  }

  test(`a data directory refuses a second node and a different worker or partition count${suffix}`, async (t) => {
    const first = await start();
    try {
      const log = createLogger({ level: 'silent', name: 't', format: 'json' });
      const same = loadConfig({ flags: { dataDir: first.dataDir, workers: 2, partitions: 16, httpPort: 0, pbPort: 0, respPort: 0, vnodeHost }, env: {} });
      await t.throwsAsync(startNode(same, log), { message: /in use by process/ });
      await first.node.stop('test');
      const otherWorkers = loadConfig({ flags: { dataDir: first.dataDir, workers: 1, partitions: 16, httpPort: 0, pbPort: 0, respPort: 0, vnodeHost }, env: {} });
      await t.throwsAsync(startNode(otherWorkers, log), { message: /created with 2 workers/ });
      const otherQ = loadConfig({ flags: { dataDir: first.dataDir, workers: 2, partitions: 32, httpPort: 0, pbPort: 0, respPort: 0, vnodeHost }, env: {} });
      await t.throwsAsync(startNode(otherQ, log), { message: /created with 16 partitions/ });
    } finally {
      await first.cleanup();
    }
  });

  test(`a damaged store fails the start with its reason: no restart loop, no hang, the lock released${suffix}`, async (t) => {
    const { rm, writeFile } = await import('node:fs/promises');
    const first = await start({ workers: 2 });
    try {
      for (let i = 0; i < 20; i++) t.true((await first.node.kv.put({ key: key(`k${i}`), context: undefined, content: content(`v${i}`) })).ok);
      await first.node.stop('damage');
      await writeFile(`${first.dataDir}/worker-0/lmdb/data.mdb`, Buffer.alloc(8192, 0xab));
      const log = createLogger({ level: 'silent', name: 't', format: 'json' });
      const config = loadConfig({ flags: { dataDir: first.dataDir, workers: 2, partitions: 16, httpPort: 0, pbPort: 0, respPort: 0, vnodeHost }, env: {} });
      await t.throwsAsync(startNode(config, log), { message: /the vnode hosts failed to start: MDB_INVALID/ });
      // Again: the same reason, not "in use by process" (the failed start released the lock).
      await t.throwsAsync(startNode(config, log), { message: /the vnode hosts failed to start: MDB_INVALID/ });
      // The healthy host was closed behind the failed start: with the damaged store removed, the
      // node starts on the same directory in the same process, and host 1's replicas still answer.
      await rm(`${first.dataDir}/worker-0`, { recursive: true });
      const node = await startNode(config, log);
      try {
        let found = 0;
        for (let i = 0; i < 20; i++) {
          const read = await node.kv.get({ key: key(`k${i}`), r: 1 });
          if (read.ok && read.value.found) found++;
        }
        t.true(found > 0, 'values held by the healthy host are read back');
      } finally {
        await node.stop('done');
      }
    } finally {
      await first.cleanup();
    }
  });

  test(`a vnode whose data was wiped takes a fresh causal identity${suffix}`, async (t) => {
    const { rm } = await import('node:fs/promises');
    let current = await start({ workers: 1 });
    try {
      const before = current.node.supervisor.actorIds();
      t.is(before.length, 16);
      current = await current.restart();
      t.deepEqual(current.node.supervisor.actorIds(), before, 'identity survives a restart');
      await current.node.stop('wipe');
      await rm(`${current.dataDir}/worker-0`, { recursive: true, force: true });
      current = await current.restart();
      const after = current.node.supervisor.actorIds();
      for (let i = 0; i < before.length; i++) t.not(after[i]!.actorId, before[i]!.actorId);
    } finally {
      await current.cleanup();
    }
  });

  test(`an fsync error stops the node from acknowledging writes, and says so${suffix}`, async (t) => {
    const { node, cleanup } = await start({ workers: 1 }, undefined, { RINGKV_FAULT_INJECTION: '1' });
    try {
      t.true((await node.kv.put({ key: key('before'), context: undefined, content: content('ok') })).ok);
      await node.supervisor.injectStorageFault(0);
      const during = await node.kv.put({ key: key('during'), context: undefined, content: content('lost?') });
      t.false(during.ok, 'the write whose fdatasync failed is not acknowledged');
      if (!during.ok) t.true(['storage_failed', 'insufficient_vnodes'].includes(during.error.code), during.error.message);
      const after = await node.kv.put({ key: key('after'), context: undefined, content: content('no') });
      t.false(after.ok, 'no later write is acknowledged either');
      if (!after.ok) t.regex(after.error.message, /storage failed|fsync|EIO/i);
      const stats = (await node.supervisor.stats())[0] as { storage?: { durableLsn: number } };
      t.truthy(stats);
    } finally {
      await cleanup();
    }
  });

  test(`listing: every live key once, tombstones never, buckets of a type${suffix}`, async (t) => {
    const { node, cleanup } = await start();
    try {
      const kv = node.kv;
      for (let i = 0; i < 2500; i++) t.true((await kv.put({ key: key(`k${i}`), context: undefined, content: content('v'), w: 'one' })).ok);
      await kv.put({ key: { type: 'default', bucket: bytes('other'), key: bytes('x') }, context: undefined, content: content('v') });
      const gone = await kv.get({ key: key('k7') });
      if (gone.ok) await kv.delete({ key: key('k7'), context: gone.value.context, w: 'all' });
      const keys: string[] = [];
      let chunks = 0;
      const result = await kv.listKeys({ type: 'default', bucket: bytes('b') }, (items) => {
        chunks++;
        keys.push(...items.map(text));
      });
      t.true(result.ok);
      t.is(keys.length, 2499, 'each live key exactly once');
      t.is(new Set(keys).size, 2499);
      t.false(keys.includes('k7'), 'the deleted key is not listed');
      t.true(chunks > 1, 'keys stream in several chunks');
      const buckets = await kv.listBuckets({ type: 'default' });
      t.true(buckets.ok);
      if (buckets.ok) t.deepEqual(buckets.value.map(text).sort(), ['b', 'other']);
      const unknown = await kv.listKeys({ type: 'nope', bucket: bytes('b') }, () => undefined);
      t.false(unknown.ok);
    } finally {
      await cleanup();
    }
  });

  test(`a delete without a context deletes what the node holds, siblings included${suffix}`, async (t) => {
    const { node, cleanup } = await start();
    try {
      await node.kv.put({ key: key('blind'), context: undefined, content: content('a') });
      await node.kv.put({ key: key('blind'), context: undefined, content: content('b') });
      const deleted = await node.kv.delete({ key: key('blind'), context: undefined });
      t.true(deleted.ok);
      const read = await node.kv.get({ key: key('blind'), r: 'all' });
      t.true(read.ok && !read.value.found, 'both siblings are gone');
    } finally {
      await cleanup();
    }
  });
}
