// The vnode passes the object it built or decoded along with the bytes it stores, so the
// anti-entropy trees can hash a write's version without decoding it again (VnodeStoragePort.put's
// `decoded`). That is only sound if the object is exactly what the bytes decode to: a tree built
// incrementally from these objects must equal one rebuilt from the stored bytes. This drives the
// vnode through every path that stores something and checks each object it passes.

import test from 'ava';
import { MapStorage } from './map-storage.js';
import { VnodeActor } from '../../actors/vnode.js';
import { decodeObject } from '../../src/core/codec.js';
import { hashObjectVersion } from '../../src/core/merkle.js';
import type { VnodePut } from '../../src/core/messages.js';
import type { KvObject } from '../../src/core/object.js';
import type { VersionVector } from '../../src/core/version-vector.js';

/** Records, for every put, whether an object came with it and whether it matched the bytes. */
class CheckingStorage extends MapStorage {
  readonly puts: { decoded: boolean; matches: boolean }[] = [];
  override put(partition: number, key: Uint8Array, value: Uint8Array, decoded?: KvObject): number {
    if (decoded !== undefined) {
      const stored = decodeObject(value);
      const version = (o: KvObject) => ({ vv: o.vv, dots: o.siblings.map((s) => s.dot) });
      const matches = hashObjectVersion(decoded) === hashObjectVersion(stored) && JSON.stringify(version(decoded)) === JSON.stringify(version(stored));
      this.puts.push({ decoded: true, matches });
    } else {
      this.puts.push({ decoded: false, matches: true });
    }
    return super.put(partition, key, value);
  }
}

let requestId = 0;
const key = Uint8Array.of(1, 7);

function put(vnode: VnodeActor, value: string, nowMs: number, context: VersionVector = [], extra: Partial<VnodePut> = {}): VnodePut {
  const request: VnodePut = {
    type: 'VnodePut', requestId: ++requestId, partition: 0, storageKey: key, context,
    content: { value: new TextEncoder().encode(value), contentType: 'text/plain', userMeta: [] },
    deleted: false, nowMs, ifNoneMatch: false, ifNotModified: false, maxSiblings: 100, lastWriteWins: false, allowMult: true, localReplicas: [],
    ...extra,
  };
  vnode.handle(request);
  return request;
}

function replicate(vnode: VnodeActor, object: Uint8Array): void {
  vnode.handle({ type: 'VnodeReplicate', requestId: ++requestId, partition: 0, storageKey: key, object });
}

test('every object the vnode passes with a put is exactly what the stored bytes decode to', (t) => {
  const storage = new CheckingStorage();
  const b = new VnodeActor(0, 'B', storage, () => 0);
  const aStorage = new MapStorage();
  const a = new VnodeActor(0, 'A', aStorage, () => 0);

  put(b, 'first', 1000); // a fresh key
  put(b, 'blind', 1001); // a sibling beside it
  put(b, 'resolved', 1002, decodeObject(storage.get(0, key)!).vv); // supersedes both
  put(b, 'lww', 1003, [], { lastWriteWins: true, allowMult: false });
  put(a, 'on A', 900);
  replicate(b, aStorage.get(0, key)!); // concurrent: merged
  put(a, 'newer on A', 1600, decodeObject(storage.get(0, key)!).vv);
  replicate(b, aStorage.get(0, key)!); // newer than B's: taken as it came
  replicate(b, aStorage.get(0, key)!); // the same again: nothing stored

  t.true(storage.puts.every((p) => p.matches), JSON.stringify(storage.puts));
  t.is(storage.puts.length, 6);
  t.true(storage.puts.every((p) => p.decoded), `the objects were passed: ${JSON.stringify(storage.puts)}`);
});

test('a duplicate put beside a sibling expired at its time stores the held bytes, with no object or the exact one', (t) => {
  const storage = new CheckingStorage();
  const b = new VnodeActor(0, 'B', storage, () => 0);
  const aStorage = new MapStorage();
  const a = new VnodeActor(0, 'A', aStorage, () => 0);
  const mine = put(b, 'mine', 2000);
  put(a, 'expiring', 1000, [], { expiresAtMs: 1500 });
  replicate(b, aStorage.get(0, key)!); // B holds its own write and A's, which expired at 1500
  t.is(decodeObject(storage.get(0, key)!).siblings.length, 2);
  const before = storage.puts.length;
  // The same put delivered again: B already holds it. The object applyPut returns leaves the
  // expired sibling out, the bytes it returns (those stored) keep it.
  b.handle({ ...mine, requestId: ++requestId });
  t.is(decodeObject(storage.get(0, key)!).siblings.length, 2, 'nothing changed');
  t.true(storage.puts.length > before, 'the held bytes were stored again');
  t.true(storage.puts.every((p) => p.matches), JSON.stringify(storage.puts));
});

test('a fresh replica key takes the incoming object as decoded', (t) => {
  const storage = new CheckingStorage();
  const b = new VnodeActor(0, 'B', storage, () => 0);
  const aStorage = new MapStorage();
  const a = new VnodeActor(0, 'A', aStorage, () => 0);
  put(a, 'x', 1000);
  replicate(b, aStorage.get(0, key)!);
  t.deepEqual(storage.puts, [{ decoded: true, matches: true }]);
});
