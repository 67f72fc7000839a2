// fast-check generators for the core's values, shared by the property tests.

import fc from 'fast-check';
import type { KvObject, Sibling } from '../../src/core/object.js';
import { applyWrite, emptyObject, mergeObjects } from '../../src/core/object.js';
import type { VersionVector } from '../../src/core/version-vector.js';

export const actors = ['a', 'b', 'c', 'd'] as const;

export const arbActor = fc.constantFrom(...actors);

export const arbVv: fc.Arbitrary<VersionVector> = fc
  .dictionary(arbActor, fc.integer({ min: 1, max: 6 }))
  .map((d) => Object.entries(d).sort(([x], [y]) => (x < y ? -1 : 1)).map(([actor, counter]) => ({ actor, counter })));

/** One step of a replicated history: a write at some replica with the context of some replica, or a sync. */
export type HistoryStep =
  | { kind: 'write'; at: number; contextFrom: number | 'blind'; value: number; deleted: boolean }
  | { kind: 'sync'; from: number; to: number };

export const arbHistory = (replicas: number, maxSteps = 20): fc.Arbitrary<HistoryStep[]> =>
  fc.array(
    fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        at: fc.integer({ min: 0, max: replicas - 1 }),
        contextFrom: fc.oneof(fc.integer({ min: 0, max: replicas - 1 }), fc.constant('blind' as const)),
        value: fc.integer({ min: 0, max: 1000 }),
        deleted: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('sync' as const), from: fc.integer({ min: 0, max: replicas - 1 }), to: fc.integer({ min: 0, max: replicas - 1 }) }),
    ),
    { maxLength: maxSteps },
  );

export function content(value: number): { value: Uint8Array; contentType: string; userMeta: [] } {
  return { value: new TextEncoder().encode(String(value)), contentType: 'text/plain', userMeta: [] };
}

/** Replays a history over `replicas` replicas, each writing under its own actor id. */
export function replay(history: readonly HistoryStep[], replicas: number): KvObject[] {
  const state: KvObject[] = Array.from({ length: replicas }, () => emptyObject);
  let clock = 0;
  for (const step of history) {
    if (step.kind === 'write') {
      const context = step.contextFrom === 'blind' ? [] : state[step.contextFrom]!.vv;
      state[step.at] = applyWrite(state[step.at]!, { context, content: content(step.value), deleted: step.deleted }, actors[step.at]!, clock++);
    } else {
      state[step.to] = mergeObjects(state[step.to]!, state[step.from]!);
    }
  }
  return state;
}

export const arbObject = (replicas = 3): fc.Arbitrary<KvObject> =>
  fc.tuple(arbHistory(replicas), fc.integer({ min: 0, max: replicas - 1 })).map(([h, i]) => replay(h, replicas)[i]!);

export function dots(object: KvObject): string[] {
  return object.siblings.map((s: Sibling) => `${s.dot.actor}:${s.dot.counter}`);
}
