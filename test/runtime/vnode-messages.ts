// Vnode requests and replies for the codec tests (peer protobuf, hand-written peer codec, thread
// batches): one bare put, and fast-check arbitraries of every field, built from the primitive
// arbitraries each test chooses (plain ones, or ones heavy on encoding edge cases).

import fc from 'fast-check';
import { kvErrorCodes } from '../../src/core/errors.js';
import type { VnodePut, VnodeReply, VnodeRequest } from '../../src/core/messages.js';
import type { VersionVector } from '../../src/core/version-vector.js';

/** A put with every required field at its zero value and no optional one. */
export function barePut(requestId = 0, partition = 0, storageKey: Uint8Array = new Uint8Array(0)): VnodePut {
  return {
    type: 'VnodePut',
    requestId,
    partition,
    storageKey,
    context: [],
    content: { value: new Uint8Array(0), contentType: '', userMeta: [] },
    deleted: false,
    nowMs: 0,
    ifNoneMatch: false,
    ifNotModified: false,
    maxSiblings: 0,
    lastWriteWins: false,
    allowMult: false,
    localReplicas: [],
  };
}

export interface PrimitiveArbitraries {
  readonly bytes: fc.Arbitrary<Uint8Array>;
  readonly string: fc.Arbitrary<string>;
  /** Safe integers (request ids, times). */
  readonly int: fc.Arbitrary<number>;
  /** Non-negative safe integers. */
  readonly uint: fc.Arbitrary<number>;
  readonly uint32: fc.Arbitrary<number>;
}

/** The data-path messages: gets, puts (every optional field may be present) and replication, and their replies. */
export function vnodeMessageArbitraries(p: PrimitiveArbitraries): {
  readonly vv: fc.Arbitrary<VersionVector>;
  readonly get: fc.Arbitrary<VnodeRequest>;
  readonly put: fc.Arbitrary<VnodeRequest>;
  readonly replicate: fc.Arbitrary<VnodeRequest>;
  readonly reply: fc.Arbitrary<VnodeReply>;
} {
  const vv: fc.Arbitrary<VersionVector> = fc
    .uniqueArray(p.string, { maxLength: 4 })
    .chain((actors) => fc.tuple(...actors.sort().map((actor) => p.uint.map((n) => ({ actor, counter: Math.max(1, n) })))));
  const header = { requestId: p.int, partition: p.uint32 };
  const get = fc.record({ type: fc.constant('VnodeGet' as const), ...header, storageKey: p.bytes, fallback: fc.boolean() }, { requiredKeys: ['type', 'requestId', 'partition', 'storageKey'] });
  const put = fc.record(
    {
      type: fc.constant('VnodePut' as const),
      ...header,
      storageKey: p.bytes,
      context: vv,
      content: fc.record({ value: p.bytes, contentType: p.string, userMeta: fc.array(fc.record({ key: p.string, value: p.string }), { maxLength: 3 }) }),
      deleted: fc.boolean(),
      nowMs: p.int,
      ifNoneMatch: fc.boolean(),
      ifNotModified: fc.boolean(),
      maxSiblings: p.uint32,
      lastWriteWins: fc.boolean(),
      allowMult: fc.boolean(),
      localReplicas: fc.array(p.uint32, { maxLength: 4 }),
      fallback: fc.boolean(),
      op: fc.record({
        datatype: fc.constantFrom('counter' as const, 'set' as const),
        increment: p.int,
        adds: fc.array(p.bytes, { maxLength: 3 }),
        removes: fc.array(p.bytes, { maxLength: 3 }),
        context: fc.option(p.bytes, { nil: undefined }),
      }),
      maxObjectBytes: p.uint,
      expiresAtMs: p.uint,
      ifPresent: fc.boolean(),
    },
    { requiredKeys: ['type', 'requestId', 'partition', 'storageKey', 'context', 'content', 'deleted', 'nowMs', 'ifNoneMatch', 'ifNotModified', 'maxSiblings', 'lastWriteWins', 'allowMult', 'localReplicas'] },
  );
  const replicate = fc.record({ type: fc.constant('VnodeReplicate' as const), ...header, storageKey: p.bytes, object: p.bytes, fallback: fc.boolean() }, { requiredKeys: ['type', 'requestId', 'partition', 'storageKey', 'object'] });
  const reply: fc.Arbitrary<VnodeReply> = fc.oneof(
    fc.record({ type: fc.constant('VnodeGetReply' as const), ...header, object: fc.option(p.bytes, { nil: undefined }) }),
    fc.record({ type: fc.constant('VnodePutApplied' as const), ...header, object: p.bytes }),
    fc.record({ type: fc.constant('VnodePutReply' as const), ...header }),
    fc.record({ type: fc.constant('VnodeReplicateReply' as const), ...header, changed: fc.boolean() }, { requiredKeys: ['type', 'requestId', 'partition'] }),
    fc.record({ type: fc.constant('VnodeFailed' as const), ...header, error: fc.record({ code: fc.constantFrom(...kvErrorCodes), message: p.string }) }),
  );
  return { vv, get, put, replicate, reply };
}
