// Runs a ringkv node as a real child process through the `ringkv start` command, for tests that
// kill it. Each node gets its own temporary data directory and a free loopback port.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = new URL('../../src/cli/main.js', import.meta.url).pathname;

// One free-port picker for the tests and the benchmarks: it never hands out a port twice.
export { freePort } from '../../loadtest/servers.js';

export async function tempDataDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `ringkv-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface NodeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => string;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** Starts `ringkv start` and resolves once it prints its HTTP address. */
export async function startNodeProcess(options: { dataDir: string; port: number; args?: string[]; env?: NodeJS.ProcessEnv; startTimeoutMs?: number }): Promise<NodeProcess> {
  const child = spawn(process.execPath, [cli, 'start', '--data-dir', options.dataDir, '--http-port', String(options.port), '--pb-port', '0', '--resp-port', '0', '--peer-port', '0', '--log-level', 'warn', ...(options.args ?? [])], {
    env: { ...process.env, RINGKV_LOG_FORMAT: 'json', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start within ${options.startTimeoutMs ?? 20000} ms:\n${output}`)), options.startTimeoutMs ?? 20000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening http on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    url,
    child,
    output: () => output,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
