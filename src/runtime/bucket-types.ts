// Bucket types at run time. Their properties live in the cluster state (src/core/cluster.ts), so a
// change made on any node reaches every node by gossip; each node keeps the map its front ends and
// key-value service read in step with that state. Types from a node's configuration file seed the
// cluster when it first sees them; a change made in the cluster wins over them.

import type { BucketProps } from '../core/bucket.js';
import { type ClusterState, bucketTypeOf, setBucketType } from '../core/cluster.js';
import { type Result, fail, ok } from '../core/errors.js';
import type { KvService } from '../core/kv.js';
import { type NodeConfig, checkBucketTypeChange, newBucketTypeProps } from './config.js';

export interface BucketTypeStore {
  readonly state: ClusterState;
  readonly self: string;
  update(next: ClusterState, spread: boolean): void;
  onChange(listener: (state: ClusterState) => void): void;
}

export interface BucketTypeView {
  readonly name: string;
  readonly props: BucketProps;
  readonly version: number;
}

const typeName = /^[A-Za-z0-9_.-]{1,64}$/;

export class BucketTypes {
  constructor(
    private readonly store: BucketTypeStore,
    /** The live map every front end and the key-value service read. */
    private readonly live: Map<string, BucketProps>,
    private readonly config: NodeConfig,
    private readonly kv: () => KvService,
  ) {
    this.sync(store.state);
    store.onChange((state) => this.sync(state));
  }

  private sync(state: ClusterState): void {
    for (const t of state.bucketTypes) {
      if (this.live.get(t.name) !== t.props) this.live.set(t.name, t.props);
    }
  }

  list(): BucketTypeView[] {
    return this.store.state.bucketTypes.map((t) => ({ name: t.name, props: t.props, version: t.version }));
  }

  show(name: string): Result<BucketTypeView> {
    const t = bucketTypeOf(this.store.state, name);
    return t === undefined ? fail('unknown_bucket_type', `bucket type "${name}" is not defined`) : ok({ name: t.name, props: t.props, version: t.version });
  }

  /**
   * Creates a type (`mode` create: refused if it exists), changes one (update: refused if it does
   * not), or either (put). Changing n_val of a type that holds data is refused: objects already
   * stored sit on the old number of replicas, and reads would look for them in the wrong places.
   * A type's datatype is fixed at creation, as in Riak: its objects are encoded for that type.
   */
  async change(name: string, raw: unknown, mode: 'create' | 'update' | 'put'): Promise<Result<BucketTypeView>> {
    if (!typeName.test(name)) return fail('invalid_request', `a bucket type name is 1 to 64 letters, digits, '_', '.' or '-', got ${JSON.stringify(name)}`);
    const existing = bucketTypeOf(this.store.state, name);
    if (mode === 'create' && existing !== undefined) return fail('invalid_request', `bucket type "${name}" already exists; use update to change it`);
    if (mode === 'update' && existing === undefined) return fail('unknown_bucket_type', `bucket type "${name}" is not defined; use create`);
    const checked = checkBucketTypeChange(name, raw, existing?.props ?? newBucketTypeProps(this.config), this.config);
    if (!checked.ok) return fail('invalid_request', `bucket type ${name}: ${checked.problems.join('; ')}`);
    if (existing !== undefined && checked.props.datatype !== existing.props.datatype) {
      return fail(
        'invalid_request',
        `the datatype of bucket type ${name} is fixed when it is created (${existing.props.datatype ?? 'none'}); create a new type for ${checked.props.datatype ?? 'plain objects'}`,
      );
    }
    if (existing !== undefined && checked.props.nVal !== existing.props.nVal) {
      const buckets = await this.kv().listBuckets({ type: name });
      if (!buckets.ok) return fail(buckets.error.code, `cannot tell whether bucket type ${name} holds data, so n_val cannot change: ${buckets.error.message}`);
      if (buckets.value.length > 0) {
        return fail(
          'invalid_request',
          `n_val of bucket type ${name} cannot change from ${existing.props.nVal} to ${checked.props.nVal}: it holds data in ${buckets.value.length} bucket(s), stored on ${existing.props.nVal} replicas each; create a new type and copy the data instead`,
        );
      }
    }
    this.store.update(setBucketType(this.store.state, name, checked.props, this.store.self), true);
    const after = bucketTypeOf(this.store.state, name)!;
    return ok({ name, props: after.props, version: after.version });
  }
}
