// A node's storage in the simulated world: the VnodeStoragePort the vnode actors use, kept in
// memory, with group commit as the real store does it. A put gets the next LSN and is visible to
// reads at once (the pending overlay); it becomes durable when a simulated fsync covering it
// completes, after a seeded delay. One fsync covers every record appended before it started;
// records appended meanwhile wait for the next one. Callers wait for an LSN with `whenDurable`,
// which is how the node holds back replies until their writes are durable, as production does.
//
// It keeps the durable image apart from the overlay, so a crash that loses every unsynced record
// is one call (`loseUnsynced`), and so is a lost disk (`wipe`).

import { Buffer } from 'node:buffer';
import type { VnodeStoragePort } from '../../actors/ports.js';
import { assert } from '../core/errors.js';
import type { SimWorld } from './world.js';

export interface StorageOptions {
  /** Time one fsync takes, drawn uniformly from [min, max]. */
  readonly fsyncMinUs: number;
  readonly fsyncMaxUs: number;
}

interface Entry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly lsn: number;
}

interface LogRecord {
  readonly key: Uint8Array;
  /** Undefined: the record removes the key. */
  readonly value: Uint8Array | undefined;
  readonly lsn: number;
  readonly partition: number;
  readonly id: string;
}

type Table = Map<string, Entry>;

/** A key as a map key that sorts like the bytes do (one char per byte). */
function idOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export class SimStorage implements VnodeStoragePort {
  /** What a crash leaves: every record up to durableLsn. */
  private readonly durable = new Map<number, Table>();
  /** What reads see: the durable image plus the records not yet synced. */
  private readonly current = new Map<number, Table>();
  /** Appended records not yet durable, in LSN order. */
  private unsynced: LogRecord[] = [];
  private waiters: { readonly lsn: number; readonly fn: () => void }[] = [];
  private lastLsn = 0;
  private durableLsnValue = 0;
  private syncing = false;
  /** Bumped by a crash, so an fsync that was running then completes into nothing. */
  private generation = 0;
  readonly counts = { puts: 0, fsyncs: 0 };
  /**
   * How a durability callback is run: at once by default; a node passes its process's gate, so
   * that a callback due while the process is paused waits for it to resume.
   */
  deliver: (fn: () => void) => void = (fn) => fn();
  /** Called after each append (a fault waiting to strike just after a write). */
  onAppend: ((partition: number, key: Uint8Array) => void) | undefined;

  constructor(
    private readonly world: SimWorld,
    private readonly name: string,
    private readonly options: StorageOptions,
  ) {
    assert(options.fsyncMinUs >= 0 && options.fsyncMinUs <= options.fsyncMaxUs, 'fsync delays 0 <= min <= max');
  }

  get durableLsn(): number {
    return this.durableLsnValue;
  }

  // ---- VnodeStoragePort

  get(partition: number, key: Uint8Array): Uint8Array | undefined {
    return this.current.get(partition)?.get(idOf(key))?.value;
  }

  pendingLsnOf(partition: number, key: Uint8Array): number {
    const lsn = this.current.get(partition)?.get(idOf(key))?.lsn ?? 0;
    return lsn > this.durableLsnValue ? lsn : 0;
  }

  put(partition: number, key: Uint8Array, value: Uint8Array): number {
    const lsn = ++this.lastLsn;
    const id = idOf(key);
    tableOf(this.current, partition).set(id, { key, value, lsn });
    this.unsynced.push({ partition, id, key, value, lsn });
    this.counts.puts++;
    this.maybeSync();
    this.onAppend?.(partition, key);
    return lsn;
  }

  remove(partition: number, key: Uint8Array): number {
    const lsn = ++this.lastLsn;
    const id = idOf(key);
    this.current.get(partition)?.delete(id);
    this.unsynced.push({ partition, id, key, value: undefined, lsn });
    this.maybeSync();
    return lsn;
  }

  forEach(partition: number, fn: (key: Uint8Array, value: Uint8Array) => void): void {
    const table = this.current.get(partition);
    if (table === undefined) return;
    const ids = [...table.keys()].sort();
    for (const id of ids) {
      const entry = table.get(id)!;
      fn(entry.key, entry.value);
    }
  }

  // ---- For the simulated node

  /** Calls `fn` once `lsn` is durable: at once if it already is (0 always is). */
  whenDurable(lsn: number, fn: () => void): void {
    if (lsn <= this.durableLsnValue) fn();
    else this.waiters.push({ lsn, fn });
  }

  /** Partitions holding at least one entry, in order. */
  partitions(): number[] {
    return [...this.current.entries()].filter(([, t]) => t.size > 0).map(([p]) => p).sort((a, b) => a - b);
  }

  /** Whether the partition holds anything at all (its vnode identity included). */
  holds(partition: number): boolean {
    return (this.current.get(partition)?.size ?? 0) > 0;
  }

  /** Partitions holding at least one object (not only the vnode's own metadata), in order. */
  objectPartitions(): number[] {
    return this.partitions().filter((p) => this.objectCount(p) > 0);
  }

  /** Objects the partition holds; keys starting with byte 0 are the vnode's own metadata. */
  objectCount(partition: number): number {
    let n = 0;
    const table = this.current.get(partition);
    if (table !== undefined) for (const entry of table.values()) if (entry.key.length > 0 && entry.key[0] !== 0) n++;
    return n;
  }

  /** Removes a partition's data (after a handoff's grace period). */
  dropPartition(partition: number): void {
    this.current.delete(partition);
    this.durable.delete(partition);
    this.unsynced = this.unsynced.filter((r) => r.partition !== partition);
  }

  /** A crash: every record not yet durable is lost, and nobody waiting for one is ever answered. */
  loseUnsynced(): void {
    this.generation++;
    this.syncing = false;
    this.unsynced = [];
    this.waiters = [];
    this.current.clear();
    for (const [p, table] of this.durable) this.current.set(p, new Map(table));
  }

  /** A wiped disk: nothing is left, durable or not, and nobody waiting is ever answered. */
  wipe(): void {
    this.loseUnsynced();
    this.durable.clear();
    this.current.clear();
  }

  private maybeSync(): void {
    if (this.syncing || this.unsynced.length === 0) return;
    this.syncing = true;
    const upTo = this.lastLsn;
    const generation = this.generation;
    this.counts.fsyncs++;
    const delayUs = this.world.random.int(this.options.fsyncMinUs, this.options.fsyncMaxUs);
    this.world.schedule(delayUs, () => `fsync ${this.name} ${upTo}`, () => {
      if (generation !== this.generation) return;
      this.syncing = false;
      this.synced(upTo);
      this.maybeSync();
    });
  }

  private synced(upTo: number): void {
    let i = 0;
    for (; i < this.unsynced.length && this.unsynced[i]!.lsn <= upTo; i++) {
      const r = this.unsynced[i]!;
      if (r.value === undefined) this.durable.get(r.partition)?.delete(r.id);
      else tableOf(this.durable, r.partition).set(r.id, { key: r.key, value: r.value, lsn: r.lsn });
    }
    this.unsynced = this.unsynced.slice(i);
    this.durableLsnValue = upTo;
    const ready = this.waiters.filter((w) => w.lsn <= upTo);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.lsn > upTo);
    for (const w of ready) this.deliver(w.fn);
  }
}

function tableOf(tables: Map<number, Table>, partition: number): Table {
  let table = tables.get(partition);
  if (table === undefined) {
    table = new Map();
    tables.set(partition, table);
  }
  return table;
}
