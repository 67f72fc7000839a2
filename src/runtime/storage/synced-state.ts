// The fault-test mode that lets a real-process crash test simulate a power loss after a SIGKILL:
// the LMDB copy taken at each checkpoint (`lmdb-synced/`), and discardUnsynced(), which cuts a
// dead node's worker directory back to what had been fdatasynced. Production never enables it;
// the WAL's synced.json bookkeeping lives in wal.ts, next to the datasync it records.

import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { checkpointFileName, parseCheckpoint } from './checkpoint-file.js';
import { parseSegmentName, syncedStateFileName } from './wal.js';
import type { SyncedState } from './wal.js';

export const lmdbDirName = 'lmdb';
export const walDirName = 'wal';
export const lmdbSyncedDirName = 'lmdb-synced';
const lmdbSyncedTmpDirName = 'lmdb-synced.tmp';
const lmdbSyncedOldDirName = 'lmdb-synced.old';
const lmdbDataFileName = 'data.mdb';

/**
 * Replaces `<dir>/lmdb-synced` with a fresh copy made by `copyTo`. The previous copy is moved
 * aside before the new one takes its name, so some complete copy exists at every moment.
 */
export async function replaceSyncedLmdbCopy(dir: string, copyTo: (target: string) => Promise<void>): Promise<void> {
  const tmp = path.join(dir, lmdbSyncedTmpDirName);
  const current = path.join(dir, lmdbSyncedDirName);
  const old = path.join(dir, lmdbSyncedOldDirName);
  await fsp.rm(tmp, { recursive: true, force: true });
  await fsp.mkdir(tmp);
  await copyTo(tmp);
  await fsp.rm(old, { recursive: true, force: true });
  await fsp.rename(current, old).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await fsp.rename(tmp, current);
  await fsp.rm(old, { recursive: true, force: true });
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function exists(file: string): Promise<boolean> {
  return fsp.stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Leaves `file` as a power loss would: its first `syncedBytes` bytes as they are, zeros from there
 * up to `syncedLength` (the length a sync made durable; past the synced bytes in a preallocated
 * segment, whose zeros were synced before the records that overwrote them were), nothing after.
 * Both are clamped to the file's length. Returns the bytes dropped: the file's length past
 * `syncedBytes`. A missing file is left missing.
 */
export async function cutToSynced(file: string, syncedBytes: number, syncedLength: number): Promise<number> {
  const stat = await fsp.stat(file).catch(() => undefined);
  if (stat === undefined) return 0;
  const keptBytes = Math.min(stat.size, syncedBytes);
  const keptLength = Math.min(stat.size, Math.max(keptBytes, syncedLength));
  if (keptLength > keptBytes) {
    const handle = await fsp.open(file, 'r+');
    try {
      await handle.write(Buffer.alloc(keptLength - keptBytes), 0, keptLength - keptBytes, keptBytes);
    } finally {
      await handle.close();
    }
  }
  if (keptLength < stat.size) await fsp.truncate(file, keptLength);
  return stat.size - keptBytes;
}

/**
 * Run by a test harness on the worker directory of a SIGKILLed node that ran with
 * recordSyncedState: truncates every WAL segment to its recorded synced length (a segment
 * wholly below the checkpoint stays whole; any other unrecorded one becomes empty; a preallocated
 * one keeps the file length its last sync made durable, with zeros where the unsynced bytes
 * were), and puts the
 * checkpoint's LMDB copy in place of `lmdb/` (or removes `lmdb/` when no copy exists, so
 * recovery rebuilds it from the WAL). The result is what a power loss would have left.
 */
export async function discardUnsynced(dir: string): Promise<{ walBytesDropped: number }> {
  const walDir = path.join(dir, walDirName);
  const checkpointText = await readIfExists(path.join(dir, checkpointFileName));
  const checkpointLsn = checkpointText === undefined ? 0 : parseCheckpoint(checkpointText);
  const syncedText = await readIfExists(path.join(walDir, syncedStateFileName));
  const synced: SyncedState = syncedText === undefined ? { segments: {} } : (JSON.parse(syncedText) as SyncedState);

  const segments = (await fsp.readdir(walDir).catch(() => [] as string[]))
    .map((name) => ({ name, firstLsn: parseSegmentName(name) }))
    .filter((entry): entry is { name: string; firstLsn: number } => entry.firstLsn !== undefined)
    .sort((a, b) => a.firstLsn - b.firstLsn);
  let walBytesDropped = 0;
  for (const [index, segment] of segments.entries()) {
    const next = segments[index + 1];
    const whollyBelowCheckpoint = next !== undefined && next.firstLsn - 1 <= checkpointLsn;
    const keptBytes = synced.segments[segment.name] ?? (whollyBelowCheckpoint ? Number.MAX_SAFE_INTEGER : 0);
    // A preallocated segment keeps the length its last sync made durable, its unsynced bytes zeros.
    walBytesDropped += await cutToSynced(path.join(walDir, segment.name), keptBytes, synced.lengths?.[segment.name] ?? keptBytes);
  }

  const lmdbDir = path.join(dir, lmdbDirName);
  // A run killed between the two renames of replaceSyncedLmdbCopy leaves only the older copy,
  // which still matches checkpoint.json: that file is rewritten only after the renames.
  let source: string | undefined;
  for (const candidate of [path.join(dir, lmdbSyncedDirName), path.join(dir, lmdbSyncedOldDirName)]) {
    if (await exists(path.join(candidate, lmdbDataFileName))) {
      source = candidate;
      break;
    }
  }
  await fsp.rm(lmdbDir, { recursive: true, force: true });
  if (source !== undefined) {
    // Copy rather than move: the copy must survive for the next simulated power loss too.
    await fsp.mkdir(lmdbDir, { recursive: true });
    await fsp.copyFile(path.join(source, lmdbDataFileName), path.join(lmdbDir, lmdbDataFileName));
  }
  return { walBytesDropped };
}
