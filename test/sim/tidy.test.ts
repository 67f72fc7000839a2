// The simulator must be deterministic: no clock, randomness or timers of its own (all come from
// the world and its one seeded generator), and it drives the same core and actors as production
// without reaching into the runtime.

import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../..', import.meta.url).pathname;
const files = readdirSync(join(root, 'src/sim')).filter((f) => f.endsWith('.ts'));

test('the simulator uses no real clock, randomness or timers', (t) => {
  t.true(files.length > 5);
  const forbidden = /\b(Date\.now|new Date|Math\.random|setTimeout|setInterval|setImmediate|queueMicrotask|performance\.now|process\.hrtime)\b/;
  for (const file of files) {
    const code = readFileSync(join(root, 'src/sim', file), 'utf8')
      .split('\n')
      .filter((line) => !line.trim().startsWith('//') && !line.trim().startsWith('*'))
      .join('\n');
    const hit = forbidden.exec(code);
    t.is(hit, null, `src/sim/${file} uses ${hit?.[0]}`);
  }
});

test('the simulator imports the core, the actors and Node built-ins, never the runtime', (t) => {
  for (const file of files) {
    const text = readFileSync(join(root, 'src/sim', file), 'utf8');
    for (const [, spec] of text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      t.true(spec!.startsWith('./') || spec!.startsWith('../core/') || spec!.startsWith('../../actors/') || spec!.startsWith('node:'), `src/sim/${file} imports ${spec}`);
    }
  }
});
