// A causal context has one entry per vnode incarnation that has coordinated a write of the key,
// never one per client or per write, so it stays small without pruning. This replays many writes
// through three replicas, with coordinators, stale contexts and merges chosen by a seeded random
// source, and checks the context never outgrows the actors that coordinated.

import test from 'ava';
import { type KvObject, applyWrite, emptyObject, mergeObjects } from '../../src/core/object.js';
import { seededRandom } from '../../src/core/random.js';
import type { VersionVector } from '../../src/core/version-vector.js';
import { content } from './arbitraries.js';

const seed = 20240607;

test('after 10 000 writes through three replicas the context has at most one entry per coordinating actor', (t) => {
  t.log(`seed ${seed}`);
  const random = seededRandom(seed);
  const actors = ['a', 'b', 'c'];
  const replicas: KvObject[] = [emptyObject, emptyObject, emptyObject];
  // Eight clients, each writing with the context of its own last read or write (often stale).
  const contexts: VersionVector[] = Array.from({ length: 8 }, () => []);
  let mostSiblings = 0;
  for (let i = 0; i < 10_000; i++) {
    const client = Math.floor(random() * contexts.length);
    const r = Math.floor(random() * replicas.length);
    const roll = random();
    if (roll < 0.3) {
      // A read: merges two replicas (read repair) and hands the client the merged context.
      const other = (r + 1) % replicas.length;
      const merged = mergeObjects(replicas[r]!, replicas[other]!);
      replicas[r] = merged;
      replicas[other] = merged;
      contexts[client] = merged.vv;
      continue;
    }
    const written = applyWrite(replicas[r]!, { context: contexts[client]!, content: content(i), deleted: false }, actors[r]!, i);
    replicas[r] = written;
    contexts[client] = written.vv;
    // Replication reaches another replica most of the time.
    if (roll < 0.9) replicas[(r + 2) % replicas.length] = mergeObjects(replicas[(r + 2) % replicas.length]!, written);
    mostSiblings = Math.max(mostSiblings, written.siblings.length);
  }
  const all = replicas.reduce(mergeObjects);
  t.true(all.vv.length <= 3, `the context has ${all.vv.length} entries`);
  t.true(all.vv.every((e) => actors.includes(e.actor)));
  t.true(mostSiblings <= contexts.length + replicas.length, `siblings peaked at ${mostSiblings}`);
});

test('a vnode that renews its identity adds one entry, and only one, to the contexts it writes', (t) => {
  let object: KvObject = emptyObject;
  // Replica a writes 100 times, restarts uncleanly twice (fresh ids a2, a3), then b writes too.
  const incarnations = ['a', 'a2', 'a3'];
  for (const actor of incarnations) {
    for (let i = 0; i < 100; i++) object = applyWrite(object, { context: object.vv, content: content(i), deleted: false }, actor, i);
  }
  object = applyWrite(object, { context: object.vv, content: content(0), deleted: false }, 'b', 0);
  t.deepEqual(object.vv.map((e) => e.actor), ['a', 'a2', 'a3', 'b']);
  t.is(object.siblings.length, 1);
});
