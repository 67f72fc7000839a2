// Pure pieces of epidemic dissemination: choosing whom to gossip with, and a round-by-round model
// of how fast news spreads, used to state (and test) how many gossip rounds a cluster of n nodes
// needs to converge. Randomness comes in as an argument; nothing here sends, stores or sleeps.
//
// The model is the classic synchronous one (Demers et al. 1987; Karp et al. 2000): in each round
// every node contacts one uniformly chosen other node, and all exchanges of a round see the state
// as it was at the start of the round. Push-pull spreads news in about log3(n) + O(log log n)
// rounds; push alone needs about log2(n) + ln(n).

import { assert } from './errors.js';

/**
 * A uniformly chosen member other than `self`, in the order given; undefined when there is none.
 * `random` yields numbers in [0, 1).
 */
export function pickGossipTarget(members: readonly string[], self: string, random: () => number): string | undefined {
  const others = members.filter((m) => m !== self);
  if (others.length === 0) return undefined;
  const draw = random();
  assert(draw >= 0 && draw < 1, 'random() yields numbers in [0, 1)');
  return others[Math.floor(draw * others.length)]!;
}

/**
 * push: the caller sends its state, the callee merges. pull: the callee answers with its state.
 * push-pull: both, as ringkv's membership does (the receiver answers when the sender lacked
 * something it has).
 */
export type GossipMode = 'push' | 'pull' | 'push-pull';

export interface SpreadOptions {
  /** Nodes in the cluster, 2..100000. */
  readonly nodes: number;
  readonly mode: GossipMode;
  /** Probability that any one message (a push or a pull reply) is lost, in [0, 1). */
  readonly lossRate: number;
  /** Rounds after which the simulation gives up. */
  readonly maxRounds: number;
}

export const defaultSpreadOptions: Omit<SpreadOptions, 'nodes'> = { mode: 'push-pull', lossRate: 0, maxRounds: 1000 };

export interface SpreadResult {
  /** Rounds until every node had the news; undefined if maxRounds passed first. */
  readonly rounds: number | undefined;
  /** How many nodes had the news after each round; index 0 is the start (one node). */
  readonly informedAfterRound: readonly number[];
}

/** Spreads one piece of news from node 0 through `nodes` nodes, round by round. */
export function simulateSpread(options: SpreadOptions, random: () => number): SpreadResult {
  const n = options.nodes;
  assert(Number.isInteger(n) && n >= 2 && n <= 100_000, 'nodes in 2..100000');
  assert(options.lossRate >= 0 && options.lossRate < 1, 'lossRate in [0, 1)');
  assert(Number.isInteger(options.maxRounds) && options.maxRounds >= 1, 'maxRounds >= 1');
  const push = options.mode !== 'pull';
  const pull = options.mode !== 'push';
  let informed = new Uint8Array(n);
  informed[0] = 1;
  let count = 1;
  const informedAfterRound = [count];
  for (let round = 1; round <= options.maxRounds; round++) {
    const next = informed.slice();
    for (let caller = 0; caller < n; caller++) {
      // A uniformly chosen other node: draw among n - 1 and skip over the caller.
      let callee = Math.floor(random() * (n - 1));
      if (callee >= caller) callee++;
      const requestArrived = random() >= options.lossRate;
      const replyArrived = requestArrived && random() >= options.lossRate;
      if (push && requestArrived && informed[caller] === 1) next[callee] = 1;
      if (pull && replyArrived && informed[callee] === 1) next[caller] = 1;
    }
    informed = next;
    count = 0;
    for (const bit of informed) count += bit;
    informedAfterRound.push(count);
    if (count === n) return { rounds: round, informedAfterRound };
  }
  return { rounds: undefined, informedAfterRound };
}
