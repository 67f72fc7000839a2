// A WalFileSystem test double that injects the failures a real disk has: a failing fdatasync or
// write, and a power loss (crash) that drops every byte not yet datasynced. It wraps a real
// WalFileSystem on a temporary directory, so what survives a crash can be reopened for real.
// It is a test tool: production code only ever sees the WalFileSystem interface.

import * as fsp from 'node:fs/promises';
import { cutToSynced } from './synced-state.js';
import { realWalFileSystem } from './wal-file.js';
import type { WalCreateOptions, WalFileHandle, WalFileSystem } from './wal-file.js';

function ioError(message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message);
  error.code = 'EIO';
  return error;
}

export class FaultyWalFileSystem implements WalFileSystem {
  /** Durable length per file this double has written; files it never touched count as synced. */
  private readonly syncedBytesByFile = new Map<string, number>();
  /**
   * A segment's file length at its last datasync: the datasync made that length durable, a
   * preallocated segment's zeros past the appended bytes included.
   */
  private readonly syncedLengthByFile = new Map<string, number>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private datasyncFailuresPending = 0;
  private appendFailuresPending = 0;
  private crashed = false;

  constructor(private readonly inner: WalFileSystem = realWalFileSystem) {}

  /** The next `count` datasync calls reject with EIO (the bytes stay in the file, unsynced). */
  failNextDatasync(count = 1): void {
    this.datasyncFailuresPending += count;
  }

  /** The next `count` append calls reject with EIO before writing anything. */
  failNextAppend(count = 1): void {
    this.appendFailuresPending += count;
  }

  syncedBytesOf(file: string): number | undefined {
    return this.syncedBytesByFile.get(file);
  }

  /**
   * Simulates a power loss: from now on every operation rejects with EIO; once the operations
   * already under way have settled, every byte not datasynced is gone. A file is cut back to the
   * length its last datasync made durable; in a preallocated segment that length runs past the
   * synced records into the zeros, so the bytes appended after the sync become zeros again (the
   * blocks were there, their new content never reached them) rather than cut off.
   */
  async crash(): Promise<{ bytesDropped: number }> {
    this.crashed = true;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    let bytesDropped = 0;
    for (const [file, syncedBytes] of this.syncedBytesByFile) {
      bytesDropped += await cutToSynced(file, syncedBytes, this.syncedLengthByFile.get(file) ?? syncedBytes);
    }
    return { bytesDropped };
  }

  private guard<T>(operation: () => Promise<T>): Promise<T> {
    if (this.crashed) return Promise.reject(ioError('simulated crash: the disk is gone'));
    const promise = operation();
    this.inFlight.add(promise);
    const forget = (): void => {
      this.inFlight.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }

  mkdirp(dir: string): Promise<void> {
    return this.guard(() => this.inner.mkdirp(dir));
  }

  list(dir: string): Promise<string[]> {
    return this.guard(() => this.inner.list(dir));
  }

  readIfExists(file: string): Promise<Uint8Array | undefined> {
    return this.guard(() => this.inner.readIfExists(file));
  }

  create(file: string, options?: WalCreateOptions): Promise<WalFileHandle> {
    return this.guard(async () => {
      const handle = await this.inner.create(file, options);
      this.syncedBytesByFile.set(file, 0);
      this.syncedLengthByFile.delete(file);
      return this.wrapHandle(file, handle);
    });
  }

  truncate(file: string, bytes: number): Promise<void> {
    return this.guard(async () => {
      await this.inner.truncate(file, bytes);
      const syncedBytes = this.syncedBytesByFile.get(file);
      if (syncedBytes !== undefined) this.syncedBytesByFile.set(file, Math.min(syncedBytes, bytes));
      this.syncedLengthByFile.delete(file);
    });
  }

  unlink(file: string): Promise<void> {
    return this.guard(async () => {
      await this.inner.unlink(file);
      this.syncedBytesByFile.delete(file);
      this.syncedLengthByFile.delete(file);
    });
  }

  syncFile(file: string): Promise<void> {
    return this.guard(async () => {
      await this.inner.syncFile(file);
      if (this.syncedBytesByFile.has(file)) this.syncedBytesByFile.set(file, (await fsp.stat(file)).size);
      this.syncedLengthByFile.delete(file);
    });
  }

  syncDir(dir: string): Promise<void> {
    return this.guard(() => this.inner.syncDir(dir));
  }

  writeAtomic(file: string, data: Uint8Array, durable: boolean): Promise<void> {
    return this.guard(async () => {
      await this.inner.writeAtomic(file, data, durable);
      this.syncedBytesByFile.set(file, durable ? data.length : 0);
      this.syncedLengthByFile.delete(file);
    });
  }

  private wrapHandle(file: string, handle: WalFileHandle): WalFileHandle {
    let appendedBytes = 0;
    return {
      append: (data) =>
        this.guard(async () => {
          if (this.appendFailuresPending > 0) {
            this.appendFailuresPending -= 1;
            throw ioError('injected write failure');
          }
          await handle.append(data);
          appendedBytes += data.length;
        }),
      datasync: () =>
        this.guard(async () => {
          const coveredBytes = appendedBytes;
          const coveredLength = handle.length;
          if (this.datasyncFailuresPending > 0) {
            this.datasyncFailuresPending -= 1;
            throw ioError('injected fdatasync failure');
          }
          await handle.datasync();
          if (this.syncedBytesByFile.has(file)) {
            this.syncedBytesByFile.set(file, coveredBytes);
            this.syncedLengthByFile.set(file, coveredLength);
          }
        }),
      get length() {
        return handle.length;
      },
      // Closing is allowed even after a crash, so the test does not leak descriptors.
      close: () => handle.close(),
    };
  }
}
