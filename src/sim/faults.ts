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
