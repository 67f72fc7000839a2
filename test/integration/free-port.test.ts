// The free-port picker the process tests and the benchmarks share. It must never hand out a port
// twice: a node once got the same port for HTTP and protocol buffers (two calls in a row, nothing
// listening on the first yet) and failed to start with EADDRINUSE.

import test from 'ava';
import { createServer } from 'node:net';
import { freePort } from './process-node.js';

test('freePort hands out distinct ports that can be listened on', async (t) => {
  const ports: number[] = [];
  for (let i = 0; i < 300; i++) ports.push(await freePort());
  t.is(new Set(ports).size, ports.length, 'no port handed out twice');
  for (const port of ports.slice(0, 5)) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  t.pass();
});
