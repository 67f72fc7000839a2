// The checkpoint record, `<dir>/checkpoint.json`: the highest LSN that LMDB held on disk when it
// was last synced, so recovery replays only newer WAL records. Written atomically and durably
// (temporary file, fsync, rename, fsync of the directory); read once at open.

import * as path from 'node:path';
import { assert } from '../../core/errors.js';
import type { WalFileSystem } from './wal-file.js';

export const checkpointFileName = 'checkpoint.json';

interface CheckpointFile {
  readonly lsn: number;
}

/** The checkpoint LSN in `dir`, 0 when no checkpoint was ever written. */
export async function readCheckpointLsn(files: WalFileSystem, dir: string): Promise<number> {
  const bytes = await files.readIfExists(path.join(dir, checkpointFileName));
  if (bytes === undefined) return 0;
  return parseCheckpoint(Buffer.from(bytes).toString('utf8'));
}

export function parseCheckpoint(text: string): number {
  // The file is replaced atomically, so anything unreadable is damage, not a torn write; replaying
  // from LSN 0 instead could silently miss records already retired from the WAL.
  const parsed = JSON.parse(text) as Partial<CheckpointFile>;
  const lsn = parsed.lsn;
  assert(typeof lsn === 'number' && Number.isSafeInteger(lsn) && lsn >= 0, `checkpoint.json holds no valid lsn: ${text}`);
  return lsn;
}

export async function writeCheckpointLsn(files: WalFileSystem, dir: string, lsn: number): Promise<void> {
  const checkpoint: CheckpointFile = { lsn };
  await files.writeAtomic(path.join(dir, checkpointFileName), Buffer.from(JSON.stringify(checkpoint)), true);
}
