// Starts a ringkv node inside the test process (worker threads and all) on a temporary data
// directory, with the HTTP listener off unless asked for. For tests that drive the node's
// service or supervisor directly.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConfigFlags, loadConfig } from '../../../src/runtime/config.js';
import { createLogger } from '../../../src/runtime/log.js';
import { type RunningNode, startNode } from '../../../src/runtime/node.js';

export interface TestNode {
  readonly node: RunningNode;
  readonly dataDir: string;
  /** Stops the node if still running and removes its data. */
  cleanup(): Promise<void>;
  restart(flags?: ConfigFlags): Promise<TestNode>;
}

export async function startTestNode(flags: ConfigFlags = {}, dataDir?: string, env: NodeJS.ProcessEnv = {}): Promise<TestNode> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'ringkv-node-')));
  const config = loadConfig({ flags: { workers: 2, partitions: 16, httpPort: 0, pbPort: 0, respPort: 0, peerPort: 0, logLevel: 'silent', ...flags, dataDir: dir }, env });
  const node = await startNode(config, createLogger({ level: config.logLevel, name: 'test', format: 'json' }));
  let stopped = false;
  void node.stopped.then(() => (stopped = true));
  const stop = async (): Promise<void> => {
    if (!stopped) await node.stop('test done');
    await node.stopped;
  };
  return {
    node,
    dataDir: dir,
    cleanup: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    restart: async (more = {}) => {
      await stop();
      return startTestNode({ ...flags, ...more }, dir, env);
    },
  };
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (value: Uint8Array): string => new TextDecoder().decode(value);
