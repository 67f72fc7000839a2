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
  close(): Promise<void>;
}

export interface WalFileSystem {
  mkdirp(dir: string): Promise<void>;
  /** Names (not paths) of the entries in `dir`; empty when it does not exist. */
  list(dir: string): Promise<string[]>;
  /** The whole file, or undefined when it does not exist. */
  readIfExists(file: string): Promise<Uint8Array | undefined>;
  /** Creates `file` empty (replacing any previous content) and opens it for appending. */
  create(file: string): Promise<WalFileHandle>;
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
 */
class RealWalFileHandle implements WalFileHandle {
  constructor(private readonly handle: fsp.FileHandle) {}

  append(data: Uint8Array): Promise<void> {
    try {
      let offset = 0;
      while (offset < data.length) offset += writeSync(this.handle.fd, data, offset, data.length - offset);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
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

  async create(file) {
    // O_APPEND keeps every write at the end even if a write is ever retried after a short one.
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_APPEND;
    return new RealWalFileHandle(await fsp.open(file, flags, 0o644));
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
      await new RealWalFileHandle(handle).append(data);
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
    if (durable) await realWalFileSystem.syncDir(path.dirname(file));
  },
};
