// A vnode storage port kept in a map, every append durable at once: for tests of the vnode actor.

import type { VnodeStoragePort } from '../../actors/ports.js';

export class MapStorage implements VnodeStoragePort {
  readonly data = new Map<string, { key: Uint8Array; value: Uint8Array }>();
  private lsn = 0;
  private id(partition: number, key: Uint8Array): string {
    return `${partition}:${Buffer.from(key).toString('hex')}`;
  }
  get(partition: number, key: Uint8Array): Uint8Array | undefined {
    return this.data.get(this.id(partition, key))?.value;
  }
  pendingLsnOf(): number {
    return 0;
  }
  put(partition: number, key: Uint8Array, value: Uint8Array): number {
    this.data.set(this.id(partition, key), { key, value });
    return ++this.lsn;
  }
  remove(partition: number, key: Uint8Array): number {
    this.data.delete(this.id(partition, key));
    return ++this.lsn;
  }
  /** In key order, as the real store folds. */
  forEach(partition: number, fn: (key: Uint8Array, value: Uint8Array) => void): void {
    for (const [id, entry] of [...this.data].sort(([a], [b]) => (a < b ? -1 : 1))) if (id.startsWith(`${partition}:`)) fn(entry.key, entry.value);
  }
}
