// The import rules of the design, checked on the sources: the core imports only the core and
// uses no clock, randomness, timers or I/O of its own; actors import only the core and their
// ports; nothing but the runtime and tests reaches into the runtime.

import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

test('the core imports nothing outside the core', (t) => {
  const files = sources('src/core');
  t.true(files.length > 5);
  for (const file of files) {
    for (const spec of imports(file)) {
      t.true(spec.startsWith('./'), `${file} imports ${spec}`);
    }
  }
});

test('the core has no clock, randomness, timers or process access of its own', (t) => {
  const forbidden = /\b(Date\.now|new Date|Math\.random|setTimeout|setInterval|setImmediate|queueMicrotask|process\.|performance\.now|require\()/;
  for (const file of sources('src/core')) {
    const text = readFileSync(join(root, file), 'utf8')
      .split('\n')
      .filter((line) => !line.trim().startsWith('//') && !line.trim().startsWith('*'))
      .join('\n');
    const hit = forbidden.exec(text);
    t.is(hit, null, `${file} uses ${hit?.[0]}`);
  }
});

test('actors import only the core and their ports', (t) => {
  for (const file of sources('actors')) {
    for (const spec of imports(file)) {
      t.true(spec.startsWith('../src/core/') || spec === './ports.js' || /^\.\/[a-z-]+\.js$/.test(spec), `${file} imports ${spec}`);
    }
  }
});

test('the arrows point one way: core and actors never import runtime, sim, client or cli', (t) => {
  for (const file of [...sources('src/core'), ...sources('actors')]) {
    for (const spec of imports(file)) t.false(/runtime|\/sim\/|client|cli/.test(spec), `${relative(root, file)} imports ${spec}`);
  }
});
