// The file operations the write-ahead log and its checkpoint file need, as one small interface,
// with the real implementation on node:fs/promises. A fault-injecting double (faulty-wal-file.ts)
// implements the same interface; nothing in storage touches WAL files except through it.
// It knows nothing of records or LSNs: it moves bytes and reports errors as rejected promises.

import { constants as fsConstants, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** A file opened for appending; one writer at a time (the WAL serializes its operations). */
export interface WalFileHandle {
  /** Writes every byte of `data` at the end of the file, looping over short writes. */
  append(data: Uint8Array): Promise<void>;
  /** fdatasync: when this resolves, every byte appended before the call is on stable storage. */
  datasync(): Promise<void>;
  /** The file's length: the appended bytes plus any preallocated zeros after them. */
  readonly length: number;
  close(): Promise<void>;
}

export interface WalCreateOptions {
  /** Zero-filled bytes kept ahead of the appended ones; 0 (the default) preallocates nothing. */
  readonly preallocateBytes?: number;
}

export interface WalFileSystem {
  mkdirp(dir: string): Promise<void>;
  /** Names (not paths) of the entries in `dir`; empty when it does not exist. */
  list(dir: string): Promise<string[]>;
  /** The whole file, or undefined when it does not exist. */
  readIfExists(file: string): Promise<Uint8Array | undefined>;
  /**
   * Creates `file` empty (replacing any previous content) and opens it for appending. With
   * `preallocateBytes` > 0 the file is kept zero-filled that far past the last appended byte
   * (see RealWalFileHandle); the appended bytes are the same either way.
   */
  create(file: string, options?: WalCreateOptions): Promise<WalFileHandle>;
  /** Shortens `file` to `bytes` and makes the new length durable before resolving. */
  truncate(file: string, bytes: number): Promise<void>;
  unlink(file: string): Promise<void>;
  /** fdatasync on a file not open for appending (a segment kept by recovery). */
  syncFile(file: string): Promise<void>;
  /** fsync on a directory, so that created, renamed and removed entries survive a power loss. */
  syncDir(dir: string): Promise<void>;
  /**
   * Replaces `file` with `data` atomically: write a temporary file, rename it over `file`.
   * With durable: true the data is fsynced before the rename and the directory after it.
   */
  writeAtomic(file: string, data: Uint8Array, durable: boolean): Promise<void>;
}

/**
 * A WAL segment's append is a synchronous write() on the calling thread; its fdatasync goes
 * through libuv's thread pool. The WAL lives in a vnode-host worker, a thread of its own, and a
 * write() into the page cache takes ~25 µs there, against ~420 µs measured for the same write
 * through the pool under load. The fdatasync stays asynchronous: it takes ~0.7 ms under load, and
 * a worker blocked in it could neither apply new requests nor hand applied writes to the other
 * replicas meanwhile (measured: higher put latency). docs/decisions.md has the story.
 *
 * Preallocation: with `preallocateBytes` > 0 the file is kept zero-filled that far past the
 * appends (topped up whenever less than half of it is left), and appends overwrite the zeros at
 * their own offset. An fdatasync after an append that did not grow the file flushes the data
 * alone; one after an append that grew it must also commit the new size through the file
 * system's journal, which measured about 1.5 times the time and CPU per fdatasync on ext4
 * (docs/decisions.md). Recovery reads nothing but zeros after the last record as the end of the
 * log (wal-recovery.ts); a clean close cuts the zeros off.
 */
class RealWalFileHandle implements WalFileHandle {
  /** Bytes appended: where the next append goes. */
  private appended = 0;
  /** The file's length: appended bytes plus the zero-filled ones after them. */
  private allocated = 0;

  constructor(
    private readonly handle: fsp.FileHandle,
    private readonly preallocateBytes: number,
  ) {}

  append(data: Uint8Array): Promise<void> {
    try {
      const end = this.appended + data.length;
      writeFully(this.handle.fd, data, this.appended);
      this.appended = end;
      this.allocated = Math.max(this.allocated, end);
      // Zeros after the data, not under it: a batch larger than what is left is written once.
      if (this.preallocateBytes > 0 && end + this.preallocateBytes / 2 > this.allocated) this.zeroFill(end + this.preallocateBytes);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  get length(): number {
    return this.allocated;
  }

  async close(): Promise<void> {
    try {
      // The zeros past the last record are no use to a closed segment. Best effort and not
      // synced: zeros left behind (a failed cut, or a power loss that undoes it) are read by
      // recovery as the end of the log. Only ever a cut: never grow a file someone else shortened.
      if (this.allocated > this.appended && (await this.handle.stat()).size > this.appended) {
        await this.handle.truncate(this.appended).catch(() => undefined);
      }
    } catch {
      // stat failed: leave the zeros.
    } finally {
      await this.handle.close();
    }
  }

  /** Extends the file with zeros up to `length` bytes. */
  private zeroFill(length: number): void {
    while (this.allocated < length) {
      const chunk = zeroChunk.subarray(0, Math.min(zeroChunk.length, length - this.allocated));
      writeFully(this.handle.fd, chunk, this.allocated);
      this.allocated += chunk.length;
    }
  }
}

/** The zeros preallocation writes, shared by every handle (never written to). */
const zeroChunk = Buffer.alloc(256 * 1024);

/** Writes all of `data` at `position`, looping over short writes. */
function writeFully(fd: number, data: Uint8Array, position: number): void {
  let offset = 0;
  while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset, position + offset);
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** The production implementation: node:fs/promises, except a segment's append (see RealWalFileHandle). */
export const realWalFileSystem: WalFileSystem = {
  async mkdirp(dir) {
    await fsp.mkdir(dir, { recursive: true });
  },

  async list(dir) {
    try {
      return await fsp.readdir(dir);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  },

  async readIfExists(file) {
    try {
      return await fsp.readFile(file);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  },

  async create(file, options) {
    // Every write names its offset (appends go after the last appended byte, not after the zeros).
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC;
    return new RealWalFileHandle(await fsp.open(file, flags, 0o644), options?.preallocateBytes ?? 0);
  },

  async truncate(file, bytes) {
    const handle = await fsp.open(file, 'r+');
    try {
      await handle.truncate(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  },

  async unlink(file) {
    try {
      await fsp.unlink(file);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  },

  async syncFile(file) {
    const handle = await fsp.open(file, 'r+');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  },

  async syncDir(dir) {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },

  async writeAtomic(file, data, durable) {
    const tmp = `${file}.tmp`;
    const handle = await fsp.open(tmp, 'w', 0o644);
    try {
      writeFully(handle.fd, data, 0);
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
    if (durable) await realWalFileSystem.syncDir(path.dirname(file));
  },
};
