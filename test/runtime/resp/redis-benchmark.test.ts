// redis-benchmark (Debian's redis-tools) against a real node: it connects, reads CONFIG GET save
// and appendonly, and runs SET and GET from ten pipelining-free clients. When redis-benchmark is
// not installed the test is registered as skipped, with the reason printed.

import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { freePort } from '../../integration/process-node.js';
import { startTestNode } from '../node/harness.js';

function which(command: string): string | undefined {
  try {
    return execFileSync('which', [command], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const benchmark = which('redis-benchmark');
const title = 'redis-benchmark -t set,get -n 2000 -c 10 completes with non-zero rates';

if (benchmark === undefined) {
  console.log('SKIPPED: redis-benchmark is not installed (Debian package redis-tools); the redis-benchmark test did not run');
  test.skip(`${title} (redis-benchmark not installed)`, () => undefined);
} else {
  test(title, async (t) => {
    const port = await freePort();
    const node = await startTestNode({ respPort: port });
    t.teardown(() => node.cleanup());
    const output = await new Promise<string>((resolve, reject) => {
      execFile(benchmark, ['-h', '127.0.0.1', '-p', String(port), '-t', 'set,get', '-n', '2000', '-c', '10', '-q'], { timeout: 90_000 }, (error, stdout, stderr) =>
        error === null ? resolve(`${stdout}\n${stderr}`) : reject(new Error(`${error.message}\n${stdout}\n${stderr}`)),
      );
    });
    t.log(output.trim());
    for (const command of ['SET', 'GET']) {
      // Progress lines ("SET: rps=...") come before the summary ("SET: 1100.11 requests per second").
      const line = output.split(/[\r\n]/).find((text) => text.startsWith(`${command}:`) && text.includes('requests per second'));
      const rate = Number(/([\d.]+) requests per second/.exec(line ?? '')?.[1] ?? 0);
      t.true(rate > 0, `${command}: ${line ?? 'no result line'}`);
    }
  });
}
