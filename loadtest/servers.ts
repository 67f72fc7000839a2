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

/** Ports this process has handed out: the kernel may offer a just-closed port again at once. */
const portsHandedOut = new Set<number>();
const freePortAttemptsMax = 100;

function listenOnAnyPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A loopback port nothing listens on now and that this process has not handed out before (two
 * calls in a row can otherwise get the same port, since nothing holds the first until its server
 * starts: seen as EADDRINUSE when a node got it for HTTP and protocol buffers both).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < freePortAttemptsMax; attempt++) {
    const port = await listenOnAnyPort();
    if (portsHandedOut.has(port)) continue;
    portsHandedOut.add(port);
    return port;
  }
  throw new Error(`no loopback port not handed out before after ${freePortAttemptsMax} attempts`);
}
