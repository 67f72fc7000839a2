// Recovery of the write-ahead log at open: scan the segments in LSN order, hand every record
// newer than the checkpoint to `apply` in bounded batches, and stop cleanly at the first torn or
// corrupt record, cutting the log back to the last good record. Nothing before that record is lost.
// It does not touch LMDB itself; the caller's `apply` does.

import * as path from 'node:path';
import { decodeRecord, recordHeaderBytes } from './wal-record.js';
import type { WalFileSystem } from './wal-file.js';
import type { WalRecord } from './wal-record.js';
import { parseSegmentName } from './wal.js';
import type { WalSegment } from './wal.js';

export interface WalRecoveryResult {
  /** The segments kept, oldest first, each durable and holding records newer than the checkpoint. */
  readonly segments: WalSegment[];
  /** The last good LSN found in the log, 0 when it holds none. */
  readonly lastLsn: number;
  readonly replayedRecords: number;
  readonly tornTail: boolean;
  readonly corruptRecord: boolean;
  readonly truncatedBytes: number;
}

export type RecoveryLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void;

/** Records per `apply` call, which bounds the memory one replayed LMDB transaction holds. */
export const replayBatchRecordsMax = 10_000;

interface ScanState {
  readonly kept: WalSegment[];
  lastLsn: number;
  replayedRecords: number;
  batch: WalRecord[];
}

/**
 * `zeroTailBytes`: zeros after the records (or after the bad record's garbage) up to the end of the
 * file, the preallocated space the WAL writes ahead (wal-file.ts).
 */
type SegmentOutcome =
  | { readonly kind: 'complete'; readonly zeroTailBytes: number }
  | { readonly kind: 'bad'; readonly torn: boolean; readonly offset: number; readonly reason: string; readonly zeroTailBytes: number };

export async function recoverWal(
  files: WalFileSystem,
  walDir: string,
  checkpointLsn: number,
  apply: (records: readonly WalRecord[]) => void,
  log: RecoveryLog,
): Promise<WalRecoveryResult> {
  const found = (await files.list(walDir))
    .map((name) => ({ name, firstLsn: parseSegmentName(name) }))
    .filter((entry): entry is { name: string; firstLsn: number } => entry.firstLsn !== undefined)
    .sort((a, b) => a.firstLsn - b.firstLsn);

  // Segments wholly below the checkpoint are left over from an interrupted retire.
  let first = 0;
  while (first + 1 < found.length && found[first + 1]!.firstLsn - 1 <= checkpointLsn) {
    await files.unlink(path.join(walDir, found[first]!.name));
    first += 1;
  }

  const state: ScanState = { kept: [], lastLsn: 0, replayedRecords: 0, batch: [] };
  const flushBatch = (): void => {
    if (state.batch.length === 0) return;
    apply(state.batch);
    state.replayedRecords += state.batch.length;
    state.batch = [];
  };

  let tornTail = false;
  let corruptRecord = false;
  let truncatedBytes = 0;
  for (let index = first; index < found.length; index += 1) {
    const { name, firstLsn } = found[index]!;
    const file = path.join(walDir, name);
    const data = Buffer.from((await files.readIfExists(file)) ?? new Uint8Array(0));
    // The first segment may start at or before the checkpoint; every later one continues the last.
    const expectedFirstLsn = index > first ? state.lastLsn + 1 : Math.min(firstLsn, checkpointLsn + 1);
    const outcome =
      firstLsn !== expectedFirstLsn
        ? ({ kind: 'bad', torn: false, offset: 0, reason: `segment starts at ${firstLsn}, expected ${expectedFirstLsn}`, zeroTailBytes: 0 } as const)
        : scanSegment(data, name, firstLsn, checkpointLsn, index === found.length - 1, state, flushBatch);
    if (outcome.kind === 'complete') {
      // A segment left open by a crash still has its preallocated zeros; it is never appended to
      // again, so they go (cut like a torn tail, but nothing is lost and nothing is reported).
      if (outcome.zeroTailBytes > 0) await files.truncate(file, data.length - outcome.zeroTailBytes);
      continue;
    }

    tornTail = outcome.torn;
    corruptRecord = !outcome.torn;
    truncatedBytes += data.length - outcome.zeroTailBytes - outcome.offset;
    if (outcome.offset === 0) await files.unlink(file);
    else if (outcome.offset < data.length) await files.truncate(file, outcome.offset);
    const dropped: string[] = [];
    for (const later of found.slice(index + 1)) {
      const laterFile = path.join(walDir, later.name);
      const laterData = await files.readIfExists(laterFile);
      // Their preallocated zeros were never records: not counted as lost.
      truncatedBytes += laterData === undefined ? 0 : contentEnd(Buffer.from(laterData.buffer, laterData.byteOffset, laterData.byteLength), 0);
      await files.unlink(laterFile);
      dropped.push(later.name);
    }
    log('warn', 'wal recovery stopped at a bad record; dropped everything after it', {
      segment: name,
      offset: outcome.offset,
      reason: outcome.reason,
      lastGoodLsn: state.lastLsn,
      truncatedBytes,
      droppedSegments: dropped,
    });
    break;
  }
  flushBatch();

  // Keep only segments holding records newer than the checkpoint, and make them durable: a
  // SIGKILLed process leaves bytes in the page cache that recovery now treats as the log.
  const segments: WalSegment[] = [];
  for (const segment of state.kept) {
    const file = path.join(walDir, segment.name);
    if (segment.bytes === 0 || segment.lastLsn <= checkpointLsn) {
      await files.unlink(file);
    } else {
      await files.syncFile(file);
      segments.push(segment);
    }
  }
  await files.syncDir(walDir);
  return { segments, lastLsn: state.lastLsn, replayedRecords: state.replayedRecords, tornTail, corruptRecord, truncatedBytes };
}

/** Scans one segment's records, adding each good one to `state`; says where the first bad one is. */
function scanSegment(
  data: Buffer,
  name: string,
  firstLsn: number,
  checkpointLsn: number,
  isLastSegment: boolean,
  state: ScanState,
  flushBatch: () => void,
): SegmentOutcome {
  const segment: WalSegment = { name, firstLsn, lastLsn: firstLsn - 1, bytes: 0, syncedBytes: 0 };
  state.kept.push(segment);
  let offset = 0;
  let outcome: SegmentOutcome = { kind: 'complete', zeroTailBytes: 0 };
  while (offset < data.length) {
    const decoded = decodeRecord(data, offset);
    if (decoded.kind !== 'record') {
      outcome = classifyBadRecord(data, offset, decoded, isLastSegment);
      break;
    }
    const { record } = decoded;
    if (record.lsn !== segment.lastLsn + 1) {
      outcome = { kind: 'bad', torn: false, offset, reason: `lsn ${record.lsn} follows ${segment.lastLsn}`, zeroTailBytes: data.length - contentEnd(data, offset) };
      break;
    }
    segment.lastLsn = record.lsn;
    state.lastLsn = record.lsn;
    offset += decoded.bytes;
    if (record.lsn > checkpointLsn) {
      state.batch.push(record);
      if (state.batch.length >= replayBatchRecordsMax) flushBatch();
    }
  }
  segment.bytes = offset;
  segment.syncedBytes = offset;
  return outcome;
}

/**
 * What the bytes at `offset`, which are not a record, are. Nothing but zeros up to the end: the
 * preallocated space after the last record, a clean end. A record that runs past the end of the
 * file, or whose claimed length runs into the zeros at its end: a write a crash cut short (torn,
 * if this is the newest segment). Anything else: damage. Only bytes from `offset` on are looked
 * at, so zeros that end the last good record (a value or key ending in zero bytes) stay its own.
 */
function classifyBadRecord(data: Buffer, offset: number, decoded: { kind: 'torn' } | { kind: 'corrupt'; reason: string }, isLastSegment: boolean): SegmentOutcome {
  const end = contentEnd(data, offset);
  if (end === offset) return { kind: 'complete', zeroTailBytes: data.length - offset };
  const zeroTailBytes = data.length - end;
  if (decoded.kind === 'torn') return { kind: 'bad', torn: isLastSegment, offset, reason: 'record runs past the end of the segment', zeroTailBytes };
  const claimedEnd = offset + recordHeaderBytes + data.readUInt32LE(offset);
  if (zeroTailBytes > 0 && claimedEnd > end) {
    return { kind: 'bad', torn: isLastSegment, offset, reason: `${decoded.reason}: the record runs into the zeros at the end of the segment`, zeroTailBytes };
  }
  return { kind: 'bad', torn: false, offset, reason: decoded.reason, zeroTailBytes };
}

/** The length of `data` without the zero bytes at its end, but never less than `from`. */
function contentEnd(data: Buffer, from: number): number {
  let end = data.length;
  while (end > from && data[end - 1] === 0) end -= 1;
  return end;
}
