// Writes past a soft bound are counted every time and logged at most once per interval per kind,
// with the number of warnings the log left out since its last line.

import test from 'ava';
import type { ObjectKey } from '../../src/core/kv.js';
import { NodeStats } from '../../src/runtime/stats.js';
import { WriteWarningReporter } from '../../src/runtime/write-warnings.js';

const key: ObjectKey = { type: 'default', bucket: new TextEncoder().encode('carts'), key: Uint8Array.of(0xff, 0) };

test('every warning is counted; the log says so at most once per interval for each kind', (t) => {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const log = { warn: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }) };
  const stats = new NodeStats(0);
  const reporter = new WriteWarningReporter(log as never, stats, 10_000);
  for (let i = 0; i < 5; i++) reporter.report(key, [{ kind: 'siblings', siblings: 30 + i, warnSiblings: 25 }], 1000 + i);
  reporter.report(key, [{ kind: 'object_size', bytes: 2 << 20, warnObjectBytes: 1 << 20 }], 1005);
  t.is(stats.siblingsWarnings, 5);
  t.is(stats.objectSizeWarnings, 1);
  t.deepEqual(lines.map((l) => l.fields['kind']), ['siblings', 'object_size']);
  t.like(lines[0]!.fields, { bucket: 'carts', key: 'base64:/wA=', siblings: 30, similarWarningsNotLogged: 0 });
  reporter.report(key, [{ kind: 'siblings', siblings: 40, warnSiblings: 25 }], 11_000);
  t.is(lines.length, 3);
  t.like(lines[2]!.fields, { siblings: 40, similarWarningsNotLogged: 4 });
});
