// The cluster's shared state: who the members are and which node owns each partition. Every node
// holds a copy and copies travel by gossip, so the state is built to merge: each member record and
// each partition's ownership entry is a last-writer-wins register, ordered by a version counter
// and then by the writer's name. Merging is commutative, associative and idempotent, so copies
// converge whatever order gossip delivers them in.
//
// Membership records may be written by any node (a join is recorded by the node the joiner
// contacted, a staged leave by whoever ran the command). Each partition has two registers with one
// kind of writer each: its `owner`, written by the old owner when a transfer completes, and its
// `target` (where it is heading), written only by the claimant — the lowest-named valid member —
// when it commits a plan. Kept apart, a completion and a new plan that cross in gossip combine
// ("owned by B, heading to C") instead of one silently overwriting the other; the deterministic
// simulator found that race when both lived in one register.

import { type BucketProps, type Datatype, type QuorumSetting, datatypes } from './bucket.js';
import { claim } from './claim.js';
import { type Result, assert, fail, ok } from './errors.js';

/**
 * joining: staged to join, owns nothing until a plan is committed. valid: a full member.
 * leaving: staged (not yet committed) or committed to leave; it hands its partitions off.
 * left: owns nothing any more; the others stop talking to it.
 */
export type MemberStatus = 'joining' | 'valid' | 'leaving' | 'left';

export interface Member {
  readonly name: string;
  /** host:port of its node-to-node listener. */
  readonly peerAddress: string;
  readonly zone: string | undefined;
  /** Client-facing listeners, for `cluster status` and client discovery ('' when disabled). */
  readonly httpAddress: string;
  readonly pbAddress: string;
  readonly status: MemberStatus;
  /** For joining and leaving: true until a plan including the change is committed. */
  readonly staged: boolean;
  readonly version: number;
  readonly writer: string;
}

export interface Ownership {
  /** The node serving the partition now; written when a transfer completes. */
  readonly owner: string;
  readonly epoch: number;
  readonly writer: string;
  /** Where the partition is heading; written by the claimant's plans. Equal to owner when settled. */
  readonly target: string;
  readonly targetEpoch: number;
  readonly targetWriter: string;
  /** Derived: the node this partition is being handed to (target, when it differs from owner). */
  readonly next: string | undefined;
}

function ownership(owner: string, epoch: number, writer: string, target: string, targetEpoch: number, targetWriter: string): Ownership {
  return { owner, epoch, writer, target, targetEpoch, targetWriter, next: target === owner ? undefined : target };
}

/** A bucket type's properties as the cluster knows them; a last-writer-wins register per name. */
export interface BucketTypeRecord {
  readonly name: string;
  readonly props: BucketProps;
  /** 0 for a type seeded from a node's configuration: any change made in the cluster wins over it. */
  readonly version: number;
  readonly writer: string;
}

export interface ClusterState {
  readonly clusterName: string;
  /** Q; fixed when the cluster is created. */
  readonly partitions: number;
  /** Sorted by name. */
  readonly members: readonly Member[];
  /** Index = partition. */
  readonly ring: readonly Ownership[];
  /** Sorted by name. */
  readonly bucketTypes: readonly BucketTypeRecord[];
}

export type NewMember = Pick<Member, 'name' | 'peerAddress' | 'zone' | 'httpAddress' | 'pbAddress'>;

export function singletonCluster(clusterName: string, partitions: number, self: NewMember, bucketTypes: Readonly<Record<string, BucketProps>> = {}): ClusterState {
  const member: Member = { ...self, status: 'valid', staged: false, version: 1, writer: self.name };
  return {
    clusterName,
    partitions,
    bucketTypes: seedRecords(bucketTypes, self.name),
    members: [member],
    ring: Array.from({ length: partitions }, () => ownership(self.name, 1, self.name, self.name, 1, self.name)),
  };
}

function newer(a: { version: number; writer: string }, b: { version: number; writer: string }): boolean {
  return a.version > b.version || (a.version === b.version && a.writer > b.writer);
}

function mergeOwnership(a: Ownership, b: Ownership): Ownership {
  const ownerFrom = b.epoch > a.epoch || (b.epoch === a.epoch && (b.writer > a.writer || (b.writer === a.writer && b.owner > a.owner))) ? b : a;
  const targetFrom =
    b.targetEpoch > a.targetEpoch || (b.targetEpoch === a.targetEpoch && (b.targetWriter > a.targetWriter || (b.targetWriter === a.targetWriter && b.target > a.target))) ? b : a;
  if (ownerFrom === targetFrom) return ownerFrom;
  return ownership(ownerFrom.owner, ownerFrom.epoch, ownerFrom.writer, targetFrom.target, targetFrom.targetEpoch, targetFrom.targetWriter);
}

/** Two copies of one cluster can be merged; copies of different clusters cannot. */
export function compatible(a: ClusterState, b: ClusterState): Result<void> {
  if (a.clusterName !== b.clusterName) return fail('invalid_request', `cluster name mismatch: this cluster is "${a.clusterName}", the other is "${b.clusterName}"`);
  if (a.partitions !== b.partitions) {
    return fail('invalid_request', `partition count mismatch: this cluster has ${a.partitions} partitions, the other ${b.partitions}; Q is fixed when a cluster is created`);
  }
  return ok(undefined);
}

export function mergeClusterStates(a: ClusterState, b: ClusterState): ClusterState {
  assert(compatible(a, b).ok, 'merging copies of the same cluster');
  const byName = new Map<string, Member>();
  for (const m of [...a.members, ...b.members]) {
    const have = byName.get(m.name);
    if (have === undefined || newer(m, have)) byName.set(m.name, m);
  }
  const members = [...byName.values()].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const ring = a.ring.map((entry, p) => mergeOwnership(entry, b.ring[p]!));
  const types = new Map<string, BucketTypeRecord>();
  for (const t of [...a.bucketTypes, ...b.bucketTypes]) {
    const have = types.get(t.name);
    if (have === undefined || newerType(t, have)) types.set(t.name, t);
  }
  return { ...a, members, ring, bucketTypes: [...types.values()].sort(compareNames) };
}

function compareNames(x: { name: string }, y: { name: string }): number {
  return x.name < y.name ? -1 : x.name > y.name ? 1 : 0;
}

function newerType(a: BucketTypeRecord, b: BucketTypeRecord): boolean {
  if (a.version !== b.version) return a.version > b.version;
  if (a.writer !== b.writer) return a.writer > b.writer;
  return propsText(a.props) > propsText(b.props);
}

/** Properties as text with the keys in a fixed order, so equal properties compare equal. */
function propsText(props: BucketProps): string {
  return JSON.stringify(props, Object.keys(props).sort());
}

function seedRecords(types: Readonly<Record<string, BucketProps>>, writer: string): BucketTypeRecord[] {
  return Object.entries(types)
    .map(([name, props]) => ({ name, props, version: 0, writer }))
    .sort(compareNames);
}

/** Adds the configured bucket types the cluster does not know yet (version 0: cluster changes win). */
export function seedBucketTypes(state: ClusterState, configured: Readonly<Record<string, BucketProps>>, writer: string): ClusterState {
  const missing = seedRecords(configured, writer).filter((t) => !state.bucketTypes.some((have) => have.name === t.name));
  if (missing.length === 0) return state;
  return { ...state, bucketTypes: [...state.bucketTypes, ...missing].sort(compareNames) };
}

/** Creates or changes a bucket type (the caller has validated the properties). */
export function setBucketType(state: ClusterState, name: string, props: BucketProps, writer: string): ClusterState {
  const have = state.bucketTypes.find((t) => t.name === name);
  const record: BucketTypeRecord = { name, props, version: (have?.version ?? 0) + 1, writer };
  return { ...state, bucketTypes: [...state.bucketTypes.filter((t) => t.name !== name), record].sort(compareNames) };
}

export function bucketTypeOf(state: ClusterState, name: string): BucketTypeRecord | undefined {
  return state.bucketTypes.find((t) => t.name === name);
}

/** True when `b` holds nothing `a` lacks (merging b into a changes nothing). */
export function covers(a: ClusterState, b: ClusterState): boolean {
  return sameState(mergeClusterStates(a, b), a);
}

export function sameState(a: ClusterState, b: ClusterState): boolean {
  if (a.members.length !== b.members.length) return false;
  for (let i = 0; i < a.members.length; i++) {
    const x = a.members[i]!;
    const y = b.members[i]!;
    if (x.name !== y.name || x.version !== y.version || x.writer !== y.writer) return false;
  }
  if (a.bucketTypes.length !== b.bucketTypes.length) return false;
  for (let i = 0; i < a.bucketTypes.length; i++) {
    const x = a.bucketTypes[i]!;
    const y = b.bucketTypes[i]!;
    if (x.name !== y.name || x.version !== y.version || x.writer !== y.writer || propsText(x.props) !== propsText(y.props)) return false;
  }
  for (let p = 0; p < a.ring.length; p++) {
    const x = a.ring[p]!;
    const y = b.ring[p]!;
    if (x.epoch !== y.epoch || x.writer !== y.writer || x.owner !== y.owner || x.targetEpoch !== y.targetEpoch || x.targetWriter !== y.targetWriter || x.target !== y.target) {
      return false;
    }
  }
  return true;
}

/** A number that grows with every ownership change, for display and quick comparison. */
export function ringVersion(state: ClusterState): number {
  let sum = 0;
  for (const entry of state.ring) sum += entry.epoch + entry.targetEpoch;
  return sum;
}

export function memberOf(state: ClusterState, name: string): Member | undefined {
  return state.members.find((m) => m.name === name);
}

/** The node that commits plans: the lowest-named valid member. */
export function claimantOf(state: ClusterState): string | undefined {
  return state.members.find((m) => m.status === 'valid' || (m.status === 'leaving' && m.staged))?.name;
}

function withMember(state: ClusterState, member: Member): ClusterState {
  const members = state.members.filter((m) => m.name !== member.name);
  members.push(member);
  members.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  return { ...state, members };
}

function bump(member: Member, change: Partial<Member>, writer: string): Member {
  return { ...member, ...change, version: member.version + 1, writer };
}

/** Records a change of a member's addresses or zone (a node restarted with other ports). */
export function updateMemberInfo(state: ClusterState, info: NewMember, writer: string): ClusterState {
  const member = memberOf(state, info.name);
  if (member === undefined) return state;
  if (member.peerAddress === info.peerAddress && member.zone === info.zone && member.httpAddress === info.httpAddress && member.pbAddress === info.pbAddress) return state;
  return withMember(state, bump(member, { peerAddress: info.peerAddress, zone: info.zone, httpAddress: info.httpAddress, pbAddress: info.pbAddress }, writer));
}

/** Records a staged join. A node that left may join again; a current member may not. */
export function stageJoin(state: ClusterState, joiner: NewMember, writer: string): Result<ClusterState> {
  const existing = memberOf(state, joiner.name);
  if (existing !== undefined && existing.status !== 'left') {
    if (existing.peerAddress === joiner.peerAddress) return ok(state); // a retried join
    return fail('invalid_request', `a member named ${joiner.name} already exists at ${existing.peerAddress}; node names must be unique`);
  }
  const base: Member = existing ?? { ...joiner, status: 'joining', staged: true, version: 0, writer };
  return ok(withMember(state, bump(base, { ...joiner, status: 'joining', staged: true }, writer)));
}

export function stageLeave(state: ClusterState, name: string, writer: string): Result<ClusterState> {
  const member = memberOf(state, name);
  if (member === undefined || member.status === 'left') return fail('invalid_request', `${name} is not a member of the cluster`);
  if (member.status === 'leaving') return ok(state);
  if (member.status === 'joining') {
    // Leaving before the join was committed: it never owned anything.
    return ok(withMember(state, bump(member, { status: 'left', staged: false }, writer)));
  }
  const staying = state.members.filter((m) => m.status === 'valid' && m.name !== name);
  if (staying.length === 0) return fail('invalid_request', `${name} is the last member; a cluster cannot be left empty`);
  return ok(withMember(state, bump(member, { status: 'leaving', staged: true }, writer)));
}

/** Withdraws every staged, uncommitted change. */
export function clearStaged(state: ClusterState, writer: string): ClusterState {
  let next = state;
  for (const m of state.members) {
    if (!m.staged) continue;
    next = withMember(next, bump(m, m.status === 'joining' ? { status: 'left', staged: false } : { status: 'valid', staged: false }, writer));
  }
  return next;
}

export interface PartitionMove {
  readonly partition: number;
  readonly from: string;
  readonly to: string;
}

export interface Plan {
  readonly joining: readonly string[];
  readonly leaving: readonly string[];
  readonly moves: readonly PartitionMove[];
  /** Owners once every move has completed. */
  readonly owners: readonly string[];
}

/** Where each partition is heading: its pending new owner, or its owner. */
export function targetOwners(state: ClusterState): string[] {
  return state.ring.map((e) => e.target);
}

/** What committing now would do: the staged changes and the partitions they move. */
export function planChanges(state: ClusterState, nVal: number): Plan {
  const joining = state.members.filter((m) => m.status === 'joining' && m.staged).map((m) => m.name);
  const staying = state.members.filter((m) => m.status === 'valid' || (m.status === 'joining' && m.staged));
  const current = targetOwners(state);
  if (joining.length === 0 && !state.members.some((m) => m.status === 'leaving' && m.staged)) {
    return { joining, leaving: [], moves: [], owners: current };
  }
  const owners = claim(current, staying.map((m) => ({ name: m.name, zone: m.zone })), Math.min(nVal, Math.max(1, staying.length)));
  const moves: PartitionMove[] = [];
  owners.forEach((to, partition) => {
    const from = state.ring[partition]!.owner;
    if (to !== current[partition] && to !== from) moves.push({ partition, from, to });
  });
  return { joining, leaving: state.members.filter((m) => m.status === 'leaving' && m.staged).map((m) => m.name), moves, owners };
}

/** Applies a plan: staged members become committed, moved partitions get their next owner. */
export function commitPlan(state: ClusterState, nVal: number, writer: string): Result<{ state: ClusterState; plan: Plan }> {
  const plan = planChanges(state, nVal);
  if (plan.joining.length === 0 && plan.leaving.length === 0) return fail('invalid_request', 'nothing is staged: join or leave nodes first');
  let next = state;
  for (const m of state.members) {
    if (!m.staged) continue;
    next = withMember(next, bump(m, { status: m.status === 'joining' ? 'valid' : 'leaving', staged: false }, writer));
  }
  const ring = next.ring.map((entry, p) => {
    const to = plan.owners[p]!;
    if (entry.target === to) return entry;
    return ownership(entry.owner, entry.epoch, entry.writer, to, entry.targetEpoch + 1, writer);
  });
  next = settleLeavers({ ...next, ring }, writer);
  return ok({ state: next, plan });
}

/** The old owner's transfer of `partition` to its next owner has completed: ownership flips. */
export function completeTransfer(state: ClusterState, partition: number, from: string, to: string, writer: string): ClusterState {
  const entry = state.ring[partition]!;
  if (entry.owner !== from || entry.next !== to) return state; // superseded meanwhile
  const ring = state.ring.slice();
  ring[partition] = ownership(to, entry.epoch + 1, writer, entry.target, entry.targetEpoch, entry.targetWriter);
  return settleLeavers({ ...state, ring }, writer);
}

/** A committed leaver that owns and receives nothing any more has left. */
function settleLeavers(state: ClusterState, writer: string): ClusterState {
  let next = state;
  for (const m of state.members) {
    if (m.status !== 'leaving' || m.staged) continue;
    if (state.ring.some((e) => e.owner === m.name || e.next === m.name)) continue;
    next = withMember(next, bump(m, { status: 'left', staged: false }, writer));
  }
  return next;
}

export interface Transfer {
  readonly partition: number;
  readonly from: string;
  readonly to: string;
}

export function pendingTransfers(state: ClusterState): Transfer[] {
  const out: Transfer[] = [];
  state.ring.forEach((e, partition) => {
    if (e.next !== undefined) out.push({ partition, from: e.owner, to: e.next });
  });
  return out;
}

export function partitionsOwnedBy(state: ClusterState, name: string): number[] {
  const out: number[] = [];
  state.ring.forEach((e, p) => {
    if (e.owner === name) out.push(p);
  });
  return out;
}

/** Members the others keep talking to. */
export function activeMembers(state: ClusterState): Member[] {
  return state.members.filter((m) => m.status !== 'left');
}

export interface PreferenceEntry {
  readonly partition: number;
  readonly node: string;
  /** False for a fallback standing in for an unreachable primary. */
  readonly primary: boolean;
}

/**
 * The N replicas of a key whose partition is `first`: the owners of the N partitions from there
 * on, each a primary. A primary that `isUp` rejects is replaced by the next healthy node further
 * round the ring that is not already in the list (a fallback); when there is none, the down
 * primary stays in the list (its requests fail), so the list always has N entries and quorums
 * keep their meaning.
 */
export function preferenceList(state: ClusterState, first: number, nVal: number, isUp: (node: string) => boolean = () => true): PreferenceEntry[] {
  const q = state.ring.length;
  assert(nVal >= 1 && nVal <= q, 'n_val between 1 and the partition count');
  const owners: string[] = [];
  for (let i = 0; i < nVal; i++) owners.push(state.ring[(first + i) % q]!.owner);
  const used = new Set(owners.filter((node) => isUp(node)));
  const out: PreferenceEntry[] = [];
  for (let i = 0; i < nVal; i++) {
    const partition = (first + i) % q;
    const owner = owners[i]!;
    if (isUp(owner)) {
      out.push({ partition, node: owner, primary: true });
      continue;
    }
    let fallback: string | undefined;
    for (let j = nVal; j < q && fallback === undefined; j++) {
      const candidate = state.ring[(first + j) % q]!.owner;
      if (!used.has(candidate) && isUp(candidate)) fallback = candidate;
    }
    if (fallback === undefined) {
      out.push({ partition, node: owner, primary: true });
    } else {
      used.add(fallback);
      out.push({ partition, node: fallback, primary: false });
    }
  }
  return out;
}

// Encoding for gossip and for the copy kept on disk: JSON text, checked field by field on the
// way in, because it arrives from other processes.

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function encodeClusterState(state: ClusterState): Uint8Array {
  const ring = state.ring.map((e) => ({ owner: e.owner, epoch: e.epoch, writer: e.writer, target: e.target, targetEpoch: e.targetEpoch, targetWriter: e.targetWriter }));
  return textEncoder.encode(JSON.stringify({ format: stateFormat, ...state, ring, members: state.members.map((m) => ({ ...m, zone: m.zone ?? null })) }));
}

export class ClusterStateError extends Error {}

/** 2: a partition's owner and target are separate registers. */
const stateFormat = 2;

function field<T>(value: unknown, check: (v: unknown) => boolean, what: string): T {
  if (!check(value)) throw new ClusterStateError(`invalid cluster state: ${what}`);
  return value as T;
}

const isString = (v: unknown): boolean => typeof v === 'string';
const isObjectArray = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));
const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const statuses: readonly string[] = ['joining', 'valid', 'leaving', 'left'];

export function decodeClusterState(bytes: Uint8Array): ClusterState {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(textDecoder.decode(bytes)) as Record<string, unknown>;
  } catch (error) {
    throw new ClusterStateError(`invalid cluster state: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ClusterStateError('invalid cluster state: not a JSON object');
  field(raw.format, (v) => v === stateFormat, `format must be ${stateFormat}`);
  const clusterName = field<string>(raw.clusterName, isString, 'clusterName');
  const partitions = field<number>(raw.partitions, (v) => isCount(v) && (v as number) > 0, 'partitions');
  const membersRaw = field<Record<string, unknown>[]>(raw.members, isObjectArray, 'members must be an array of objects');
  const members: Member[] = membersRaw.map((m, i) => ({
    name: field<string>(m.name, (v) => isString(v) && (v as string).length > 0, `members[${i}].name`),
    peerAddress: field<string>(m.peerAddress, isString, `members[${i}].peerAddress`),
    zone: field<string | null>(m.zone ?? null, (v) => v === null || isString(v), `members[${i}].zone`) ?? undefined,
    httpAddress: field<string>(m.httpAddress ?? '', isString, `members[${i}].httpAddress`),
    pbAddress: field<string>(m.pbAddress ?? '', isString, `members[${i}].pbAddress`),
    status: field<MemberStatus>(m.status, (v) => statuses.includes(v as string), `members[${i}].status`),
    staged: field<boolean>(m.staged, (v) => typeof v === 'boolean', `members[${i}].staged`),
    version: field<number>(m.version, isCount, `members[${i}].version`),
    writer: field<string>(m.writer, isString, `members[${i}].writer`),
  }));
  members.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const names = new Set(members.map((m) => m.name));
  if (names.size !== members.length) throw new ClusterStateError('invalid cluster state: duplicate member names');
  const ringRaw = field<Record<string, unknown>[]>(raw.ring, (v) => isObjectArray(v) && (v as unknown[]).length === partitions, 'ring must have one entry per partition');
  const ring: Ownership[] = ringRaw.map((e, p) =>
    ownership(
      field<string>(e.owner, (v) => isString(v) && names.has(v as string), `ring[${p}].owner must be a member`),
      field<number>(e.epoch, isCount, `ring[${p}].epoch`),
      field<string>(e.writer, isString, `ring[${p}].writer`),
      field<string>(e.target, (v) => isString(v) && names.has(v as string), `ring[${p}].target must be a member`),
      field<number>(e.targetEpoch, isCount, `ring[${p}].targetEpoch`),
      field<string>(e.targetWriter, isString, `ring[${p}].targetWriter`),
    ),
  );
  const typesRaw = field<Record<string, unknown>[]>(raw.bucketTypes ?? [], isObjectArray, 'bucketTypes must be an array of objects');
  const bucketTypes: BucketTypeRecord[] = typesRaw.map((t, i) => ({
    name: field<string>(t.name, (v) => isString(v) && /^[A-Za-z0-9_.-]{1,64}$/.test(v as string), `bucketTypes[${i}].name`),
    props: decodeProps(t.props, `bucketTypes[${i}].props`),
    version: field<number>(t.version, isCount, `bucketTypes[${i}].version`),
    writer: field<string>(t.writer, isString, `bucketTypes[${i}].writer`),
  }));
  bucketTypes.sort(compareNames);
  if (new Set(bucketTypes.map((t) => t.name)).size !== bucketTypes.length) throw new ClusterStateError('invalid cluster state: duplicate bucket type names');
  return { clusterName, partitions, members, ring, bucketTypes };
}

const isQuorum = (v: unknown): boolean => v === 'one' || v === 'quorum' || v === 'all' || isCount(v);
const isBool = (v: unknown): boolean => typeof v === 'boolean';

function decodeProps(raw: unknown, where: string): BucketProps {
  const p = field<Record<string, unknown>>(raw, (v) => typeof v === 'object' && v !== null && !Array.isArray(v), `${where} must be an object`);
  const props: BucketProps = {
    nVal: field<number>(p.nVal, (v) => isCount(v) && (v as number) >= 1, `${where}.nVal`),
    r: field<QuorumSetting>(p.r, isQuorum, `${where}.r`),
    w: field<QuorumSetting>(p.w, isQuorum, `${where}.w`),
    dw: field<QuorumSetting>(p.dw, isQuorum, `${where}.dw`),
    pr: field<QuorumSetting>(p.pr, isQuorum, `${where}.pr`),
    pw: field<QuorumSetting>(p.pw, isQuorum, `${where}.pw`),
    allowMult: field<boolean>(p.allowMult, isBool, `${where}.allowMult`),
    lastWriteWins: field<boolean>(p.lastWriteWins, isBool, `${where}.lastWriteWins`),
    notfoundOk: field<boolean>(p.notfoundOk, isBool, `${where}.notfoundOk`),
    basicQuorum: field<boolean>(p.basicQuorum, isBool, `${where}.basicQuorum`),
  };
  const optional: Record<string, unknown> = {};
  for (const name of ['maxSiblings', 'warnSiblings', 'maxObjectBytes', 'warnObjectBytes'] as const) {
    if (p[name] !== undefined && p[name] !== null) optional[name] = field<number>(p[name], (v) => isCount(v) && (v as number) >= 1, `${where}.${name}`);
  }
  if (p.ttlMs !== undefined && p.ttlMs !== null) optional['ttlMs'] = field<number>(p.ttlMs, isCount, `${where}.ttlMs`);
  if (p.datatype !== undefined && p.datatype !== null) optional['datatype'] = field<Datatype>(p.datatype, (v) => datatypes.includes(v as Datatype), `${where}.datatype`);
  return { ...props, ...optional };
}
