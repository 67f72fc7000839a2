// The write-ahead log's segment files: appending batches, fdatasync, rolling to a new segment,
// and retiring segments a checkpoint covers. Every file operation runs one at a time, in the
// order requested, so a datasync always covers exactly the appends queued before it.
// It does not decide when to sync or checkpoint (the WorkerStore does), and it never reads records.

import * as path from 'node:path';
import { assert } from '../../core/errors.js';
import type { WalFileHandle, WalFileSystem } from './wal-file.js';

/** One segment file: its records are firstLsn..lastLsn (lastLsn = firstLsn - 1 while empty). */
export interface WalSegment {
  readonly name: string;
  readonly firstLsn: number;
  lastLsn: number;
  bytes: number;
  syncedBytes: number;
}

const segmentSuffix = '.log';
const segmentDigits = 16;
export const syncedStateFileName = 'synced.json';

export function segmentName(firstLsn: number): string {
  return `${String(firstLsn).padStart(segmentDigits, '0')}${segmentSuffix}`;
}

/** The first LSN a segment file name stands for, or undefined when the name is not a segment's. */
export function parseSegmentName(name: string): number | undefined {
  if (!name.endsWith(segmentSuffix) || name.length !== segmentDigits + segmentSuffix.length) return undefined;
  const digits = name.slice(0, segmentDigits);
  if (!/^[0-9]+$/.test(digits)) return undefined;
  const firstLsn = Number(digits);
  return Number.isSafeInteger(firstLsn) && firstLsn > 0 ? firstLsn : undefined;
}

/** The `synced.json` content of recordSyncedState mode: durable bytes per segment name. */
export interface SyncedState {
  readonly segments: Record<string, number>;
  /**
   * The open segment's file length at its last sync, when preallocated zeros run past its synced
   * bytes: that sync made the length durable, so a power loss leaves zeros there, not a cut.
   */
  readonly lengths?: Record<string, number>;
}

export interface WalOptions {
  readonly files: WalFileSystem;
  readonly walDir: string;
  readonly segmentBytesMax: number;
  /** Zero-filled bytes kept ahead of a segment's appends (WalCreateOptions); 0 for none. */
  readonly preallocateBytes: number;
  readonly recordSyncedState: boolean;
}

export class Wal {
  private readonly segments: WalSegment[];
  private current: { readonly segment: WalSegment; readonly handle: WalFileHandle } | undefined;
  private queueTail: Promise<unknown> = Promise.resolve();
  /** The open segment's file length at its last sync (recordSyncedState bookkeeping). */
  private syncedLength: { readonly name: string; readonly length: number } | undefined;
  private closed = false;

  /** `recovered` are the segments recovery kept, oldest first, all closed and durable. */
  constructor(private readonly options: WalOptions, recovered: readonly WalSegment[]) {
    this.segments = recovered.map((segment) => ({ ...segment }));
  }

  get bytes(): number {
    return this.segments.reduce((sum, segment) => sum + segment.bytes, 0);
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Appends one batch (records firstLsn..lastLsn) with one write, rolling segments first if due. */
  append(data: Uint8Array, firstLsn: number, lastLsn: number): Promise<void> {
    return this.enqueue(async () => {
      const current = this.current;
      if (current !== undefined) {
        assert(firstLsn === current.segment.lastLsn + 1, `append of ${firstLsn} after ${current.segment.lastLsn}`);
        if (current.segment.bytes > 0 && current.segment.bytes + data.length > this.options.segmentBytesMax) {
          await this.closeCurrent();
        }
      }
      const target = this.current ?? (await this.openSegment(firstLsn));
      await target.handle.append(data);
      target.segment.bytes += data.length;
      target.segment.lastLsn = lastLsn;
    });
  }

  /** fdatasync of the segment being written, if it holds unsynced bytes. */
  sync(): Promise<void> {
    return this.enqueue(() => this.syncCurrent());
  }

  /** Deletes the closed segments whose records are all <= lsn; returns how many. */
  retire(lsn: number): Promise<number> {
    return this.enqueue(async () => {
      let retired = 0;
      while (this.segments.length > 0) {
        const oldest = this.segments[0]!;
        if (oldest === this.current?.segment || oldest.lastLsn > lsn) break;
        await this.options.files.unlink(path.join(this.options.walDir, oldest.name));
        this.segments.shift();
        retired += 1;
      }
      if (retired > 0 && this.options.recordSyncedState) await this.writeSyncedState();
      return retired;
    });
  }

  /** Syncs and closes the segment being written; the WAL accepts nothing afterwards. */
  close(): Promise<void> {
    return this.enqueue(async () => {
      this.closed = true;
      await this.closeCurrent();
    });
  }

  /** Closes the open descriptor without syncing, after a failure; never rejects. */
  abandon(): Promise<void> {
    this.closed = true;
    const current = this.current;
    this.current = undefined;
    return current === undefined ? Promise.resolve() : current.handle.close().catch(() => undefined);
  }

  /** Records the current segment lengths as synced (recordSyncedState mode, after recovery). */
  recordRecoveredState(): Promise<void> {
    return this.enqueue(() => this.writeSyncedState());
  }

  private enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      assert(!this.closed, 'WAL used after close');
      return operation();
    };
    const result = this.queueTail.then(run, run);
    this.queueTail = result.catch(() => undefined);
    return result;
  }

  private async openSegment(firstLsn: number): Promise<{ segment: WalSegment; handle: WalFileHandle }> {
    const last = this.segments.at(-1);
    assert(last === undefined || last.lastLsn < firstLsn, `segment ${firstLsn} overlaps ${last?.name}`);
    const segment: WalSegment = { name: segmentName(firstLsn), firstLsn, lastLsn: firstLsn - 1, bytes: 0, syncedBytes: 0 };
    // Never more zeros ahead than one whole segment holds: it rolls at segmentBytesMax.
    const preallocateBytes = Math.min(this.options.preallocateBytes, this.options.segmentBytesMax);
    const handle = await this.options.files.create(path.join(this.options.walDir, segment.name), { preallocateBytes });
    try {
      // The new directory entry must survive a power loss as surely as the records it will hold.
      await this.options.files.syncDir(this.options.walDir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    this.segments.push(segment);
    this.current = { segment, handle };
    return this.current;
  }

  private async syncCurrent(): Promise<void> {
    const current = this.current;
    if (current === undefined || current.segment.syncedBytes === current.segment.bytes) return;
    const coveredBytes = current.segment.bytes;
    const coveredLength = current.handle.length;
    await current.handle.datasync();
    current.segment.syncedBytes = coveredBytes;
    this.syncedLength = { name: current.segment.name, length: coveredLength };
    if (this.options.recordSyncedState) await this.writeSyncedState();
  }

  private async closeCurrent(): Promise<void> {
    // A segment is synced before it is closed, so only the newest segment can ever be unsynced.
    await this.syncCurrent();
    const current = this.current;
    this.current = undefined;
    if (current !== undefined) await current.handle.close();
  }

  private async writeSyncedState(): Promise<void> {
    const synced = this.syncedLength;
    const state: SyncedState = {
      segments: Object.fromEntries(this.segments.map((segment) => [segment.name, segment.syncedBytes])),
      ...(synced !== undefined && synced.name === this.current?.segment.name ? { lengths: { [synced.name]: synced.length } } : {}),
    };
    const file = path.join(this.options.walDir, syncedStateFileName);
    await this.options.files.writeAtomic(file, Buffer.from(JSON.stringify(state)), false);
  }
}
