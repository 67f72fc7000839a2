// Network faults as link policies (see network.ts): each is a function from a message on a link
// to its fate. They keep FIFO order on a link unless they say otherwise, because production sends
// everything between two nodes over one TCP connection; a fault that lets gossip overtake vnode
// traffic on the same link would find "bugs" that cannot happen there.

import type { Link, LinkPolicy } from './network.js';

/**
 * Every link gets a latency of its own, drawn once (on its first message) from [minUs, maxUs],
 * plus a little jitter per message: some node pairs are near, some far. Races between a fast and
 * a slow path (a plan reaching one node long after another) come from this.
 */
export function slowLinks<M>(minUs: number, maxUs: number, jitterUs = 1_000): LinkPolicy<M> {
  const latencyUs = new Map<string, number>();
  return (link, _message, random) => {
    if (link.from === link.to) return undefined;
    const id = `${link.from}>${link.to}`;
    let base = latencyUs.get(id);
    if (base === undefined) {
      base = random.int(minUs, maxUs);
      latencyUs.set(id, base);
    }
    return { delaysUs: [base + random.int(0, jitterUs)], fifo: true };
  };
}

/** Drops every message between the two sides, both ways, while in force (remove the policy to heal). */
export function partitionBetween<M>(sideA: readonly string[], sideB: readonly string[]): LinkPolicy<M> {
  const across = (link: Link): boolean => (sideA.includes(link.from) && sideB.includes(link.to)) || (sideB.includes(link.from) && sideA.includes(link.to));
  return (link) => (across(link) ? { delaysUs: [], fifo: true } : undefined);
}

// ---- The fault model of the fault scenarios: several faults in force at once, on chosen links.

/** Which links a network fault applies to (never a node's messages to itself). */
export type LinkScope =
  | { readonly kind: 'all' }
  | { readonly kind: 'from'; readonly node: string }
  | { readonly kind: 'to'; readonly node: string }
  | { readonly kind: 'between'; readonly a: string; readonly b: string };

export type NetworkFault =
  /** Each message is lost with this probability. */
  | { readonly kind: 'loss'; readonly scope: LinkScope; readonly probability: number }
  /** Each message takes this much longer (uniform in [min, max]); the link stays FIFO. */
  | { readonly kind: 'delay'; readonly scope: LinkScope; readonly extraMinUs: number; readonly extraMaxUs: number }
  /** Each message is delivered twice with this probability, the copy up to `spreadUs` later. */
  | { readonly kind: 'duplicate'; readonly scope: LinkScope; readonly probability: number; readonly spreadUs: number }
  /** Each message, with this probability, leaves the link's order and arrives up to `windowUs` late. */
  | { readonly kind: 'reorder'; readonly scope: LinkScope; readonly probability: number; readonly windowUs: number }
  /** Nothing crosses between the two sides, either way. */
  | { readonly kind: 'partition'; readonly sideA: readonly string[]; readonly sideB: readonly string[] }
  /** Nothing goes from `from` to `to`; the other way works. */
  | { readonly kind: 'one-way'; readonly from: readonly string[]; readonly to: readonly string[] };

function inScope(scope: LinkScope, link: Link): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'from':
      return link.from === scope.node;
    case 'to':
      return link.to === scope.node;
    case 'between':
      return (link.from === scope.a && link.to === scope.b) || (link.from === scope.b && link.to === scope.a);
  }
}

function blocks(fault: NetworkFault, link: Link): boolean {
  if (fault.kind === 'partition') {
    return (fault.sideA.includes(link.from) && fault.sideB.includes(link.to)) || (fault.sideB.includes(link.from) && fault.sideA.includes(link.to));
  }
  if (fault.kind === 'one-way') return fault.from.includes(link.from) && fault.to.includes(link.to);
  return false;
}

export function describeFault(fault: NetworkFault): string {
  const scope = (s: LinkScope): string => (s.kind === 'all' ? 'all links' : s.kind === 'between' ? `${s.a}<->${s.b}` : s.kind === 'from' ? `from ${s.node}` : `to ${s.node}`);
  switch (fault.kind) {
    case 'loss':
      return `loss ${(fault.probability * 100).toFixed(0)}% ${scope(fault.scope)}`;
    case 'delay':
      return `delay +${(fault.extraMinUs / 1000).toFixed(0)}..${(fault.extraMaxUs / 1000).toFixed(0)} ms ${scope(fault.scope)}`;
    case 'duplicate':
      return `duplication ${(fault.probability * 100).toFixed(0)}% ${scope(fault.scope)}`;
    case 'reorder':
      return `reordering ${(fault.probability * 100).toFixed(0)}% within ${(fault.windowUs / 1000).toFixed(0)} ms ${scope(fault.scope)}`;
    case 'partition':
      return `partition ${fault.sideA.join(' ')} | ${fault.sideB.join(' ')}`;
    case 'one-way':
      return `one-way partition ${fault.from.join(' ')} -/-> ${fault.to.join(' ')}`;
  }
}

/**
 * The network faults in force, as one link policy: partitions drop first, then each loss fault
 * may drop; a message that gets through takes the link's normal delay plus every extra delay in
 * force, and may be duplicated or leave the link's order. Links no fault touches keep the
 * network's default behaviour (and draw nothing from the random generator for it).
 */
export class NetworkFaults<M> {
  private readonly active: NetworkFault[] = [];
  readonly counts = { lost: 0, blocked: 0, delayed: 0, duplicated: 0, reordered: 0 };

  constructor(
    /** The link's normal delay, drawn as the network draws it. */
    private readonly baseDelayUs: (link: Link) => number,
    /** Which messages a duplication fault may deliver twice (all by default). */
    private readonly duplicable: (message: M) => boolean = () => true,
  ) {}

  /** Puts a fault in force; returns the function that heals it. */
  add(fault: NetworkFault): () => void {
    this.active.push(fault);
    return () => {
      const i = this.active.indexOf(fault);
      if (i >= 0) this.active.splice(i, 1);
    };
  }

  /** Heals every fault. */
  clear(): void {
    this.active.length = 0;
  }

  get inForce(): readonly NetworkFault[] {
    return this.active;
  }

  readonly policy: LinkPolicy<M> = (link, message, random) => {
    if (link.from === link.to || this.active.length === 0) return undefined;
    const touching = this.active.filter((f) => (f.kind === 'partition' || f.kind === 'one-way' ? blocks(f, link) : inScope(f.scope, link)));
    if (touching.length === 0) return undefined;
    if (touching.some((f) => f.kind === 'partition' || f.kind === 'one-way')) {
      this.counts.blocked++;
      return { delaysUs: [], fifo: true };
    }
    for (const f of touching) {
      if (f.kind === 'loss' && random.chance(f.probability)) {
        this.counts.lost++;
        return { delaysUs: [], fifo: true };
      }
    }
    let delayUs = this.baseDelayUs(link);
    let fifo = true;
    const delays: number[] = [];
    for (const f of touching) {
      if (f.kind === 'delay') {
        this.counts.delayed++;
        delayUs += random.int(f.extraMinUs, f.extraMaxUs);
      }
    }
    for (const f of touching) {
      if (f.kind === 'reorder' && fifo && random.chance(f.probability)) {
        this.counts.reordered++;
        fifo = false;
        delayUs += random.int(0, f.windowUs);
      }
    }
    delays.push(delayUs);
    for (const f of touching) {
      if (f.kind === 'duplicate' && delays.length === 1 && this.duplicable(message) && random.chance(f.probability)) {
        this.counts.duplicated++;
        delays.push(delayUs + random.int(0, f.spreadUs));
      }
    }
    return { delaysUs: delays, fifo };
  };
}
