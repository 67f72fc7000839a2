// The README's configuration table is written for people, but it must say what the code does:
// every setting appears, with its environment variable, default and meaning as describeConfig()
// gives them.

import test from 'ava';
import { readFileSync } from 'node:fs';
import { describeConfig } from '../src/runtime/config.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('the README configuration table matches the settings the node accepts', (t) => {
  const section = readme.slice(readme.indexOf('\n## Configuration'), readme.indexOf('\n## Durability'));
  t.true(section.length > 100, 'the README has a Configuration section followed by Durability');
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const match = /^\| `([A-Za-z.]+)` \|(.*)\|$/.exec(line);
    if (match) rows.set(match[1]!, match[2]!.split('|').map((cell) => cell.trim()));
  }
  for (const setting of describeConfig()) {
    const row = rows.get(setting.field);
    if (row === undefined) {
      t.fail(`README has no row for ${setting.field}`);
      continue;
    }
    const text = row.join(' | ');
    if (setting.envVar !== undefined) t.true(text.includes(setting.envVar), `${setting.field}: env var ${setting.envVar}`);
    t.true(text.includes(setting.meaning), `${setting.field}: meaning "${setting.meaning}" in "${text}"`);
    if (setting.field !== 'bucketTypes') t.true(text.includes(setting.defaultValue), `${setting.field}: default ${setting.defaultValue}`);
  }
});
