// The node's copy of the cluster state on disk (`cluster.json` in the data directory), so that a
// restarted node knows its cluster, its ring and the transfers still owed before it hears any
// gossip. Written atomically: a temporary file, fsync, rename, fsync of the directory.

import { open, readFile, rename } from 'node:fs/promises';
import { type ClusterState, ClusterStateError, decodeClusterState, encodeClusterState } from '../../core/cluster.js';

export async function loadClusterState(dataDir: string): Promise<ClusterState | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(`${dataDir}/cluster.json`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return decodeClusterState(bytes);
  } catch (error) {
    if (error instanceof ClusterStateError) throw new ClusterStateError(`${dataDir}/cluster.json: ${error.message}`);
    throw error;
  }
}

/** Saves are serialized: the last one to finish holds the newest state. */
export class ClusterStateFile {
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly dataDir: string) {}

  save(state: ClusterState): Promise<void> {
    const bytes = encodeClusterState(state);
    this.chain = this.chain.catch(() => undefined).then(() => this.write(bytes));
    return this.chain;
  }

  /** Resolves once every save begun so far has finished (for a clean stop). */
  flush(): Promise<void> {
    return this.chain.catch(() => undefined);
  }

  private async write(bytes: Uint8Array): Promise<void> {
    const tmp = `${this.dataDir}/cluster.json.tmp`;
    const file = await open(tmp, 'w');
    try {
      await file.writeFile(bytes);
      await file.datasync();
    } finally {
      await file.close();
    }
    await rename(tmp, `${this.dataDir}/cluster.json`);
    const dir = await open(this.dataDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
