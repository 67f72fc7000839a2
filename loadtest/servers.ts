// Helpers for the servers a benchmark starts: a free loopback port (ringkv treats port 0 as
// "listener off", so the benchmarks pick a port themselves), and a stop that waits for the exit.

import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** SIGTERM, then wait until the process has exited (a node closes its stores first). */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
