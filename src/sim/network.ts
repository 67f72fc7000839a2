// The simulated network between named nodes. A message is delivered after a seeded delay, as an
// event in the world's queue (a node's messages to itself too, so nothing is handled re-entrantly).
// By default each link (from, to) is FIFO like the TCP connection it stands for: a message never
// overtakes an earlier one on the same link.
//
// Faults plug in as link policies: functions consulted for every message, in the order added,
// the first one with an opinion deciding its fate — dropped (no deliveries), duplicated (two),
// delayed, or let out of order (`fifo: false`). A partition is a policy that drops everything
// between two groups; healing it is removing the policy.

import { assert } from '../core/errors.js';
import type { SimRandom } from './random.js';
import type { SimWorld } from './world.js';

export interface NetworkOptions {
  /** Delay between two different nodes, drawn uniformly from [min, max]. */
  readonly minDelayUs: number;
  readonly maxDelayUs: number;
  /** Delay of a node's message to itself. */
  readonly localDelayUs: number;
}

export interface Link {
  readonly from: string;
  readonly to: string;
}

/** What happens to one message: one delay per copy delivered (none: lost). */
export interface LinkDecision {
  readonly delaysUs: readonly number[];
  /** False lets these copies overtake earlier messages on the link (reordering). */
  readonly fifo: boolean;
}

/** Returns a decision, or undefined to leave the message to the next policy (or the default). */
export type LinkPolicy<M> = (link: Link, message: M, random: SimRandom, nowUs: number) => LinkDecision | undefined;

/** `fromIncarnation`: the sender's incarnation when it sent (0 where nodes never restart). */
export type MessageHandler<M> = (from: string, message: M, fromIncarnation: number) => void;

/**
 * Process incarnations, where nodes can crash and restart. A message travels on the sender's
 * connection to one incarnation of the receiver, and is delivered only to that incarnation: what
 * was sent into a connection to a process that has died since (or was dead already) never reaches
 * the process that replaced it.
 */
export interface Incarnations {
  /** The incarnation of a node's process now. */
  current(name: string): number;
  /** The incarnation of `to` that `from`'s connection leads to (opening one if it has none). */
  connection(from: string, to: string): number;
}

export interface NetworkCounts {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Messages addressed to a node that is not attached when they arrive. */
  undeliverable: number;
}

export class SimNetwork<M> {
  private readonly handlers = new Map<string, MessageHandler<M>>();
  private readonly policies: LinkPolicy<M>[] = [];
  /** Arrival time of the last FIFO message per link, so the next is not delivered before it. */
  private readonly lastArrivalUs = new Map<string, number>();
  readonly counts: NetworkCounts = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, undeliverable: 0 };
  /**
   * Called for a message that arrives at a node not attached (a process that is down): what the
   * sender's side learns from that (a refused connection), if anything.
   */
  onUndeliverable: ((from: string, to: string, message: M) => void) | undefined;
  incarnations: Incarnations | undefined;

  constructor(
    private readonly world: SimWorld,
    private readonly options: NetworkOptions,
    /** A short description of a message for the trace. */
    private readonly describe: (message: M) => string,
  ) {
    assert(options.minDelayUs >= 0 && options.minDelayUs <= options.maxDelayUs && options.localDelayUs >= 0, 'delays 0 <= min <= max');
  }

  attach(name: string, handler: MessageHandler<M>): void {
    this.handlers.set(name, handler);
  }

  detach(name: string): void {
    this.handlers.delete(name);
  }

  isAttached(name: string): boolean {
    return this.handlers.has(name);
  }

  /** Adds a fault; returns the function that removes it again. */
  addPolicy(policy: LinkPolicy<M>): () => void {
    this.policies.push(policy);
    return () => {
      const i = this.policies.indexOf(policy);
      if (i >= 0) this.policies.splice(i, 1);
    };
  }

  send(from: string, to: string, message: M): void {
    this.counts.sent++;
    const decision = this.decide({ from, to }, message);
    if (decision.delaysUs.length === 0) this.counts.dropped++;
    if (decision.delaysUs.length > 1) this.counts.duplicated += decision.delaysUs.length - 1;
    const linkKey = `${from}>${to}`;
    const toIncarnation = this.incarnations?.connection(from, to);
    const fromIncarnation = this.incarnations?.current(from) ?? 0;
    for (const delayUs of decision.delaysUs) {
      let atUs = this.world.nowUs + Math.max(0, Math.round(delayUs));
      if (decision.fifo) {
        atUs = Math.max(atUs, this.lastArrivalUs.get(linkKey) ?? 0);
        this.lastArrivalUs.set(linkKey, atUs);
      }
      this.world.scheduleAt(atUs, () => `${from}>${to} ${this.describe(message)}`, () => this.deliver(from, to, message, toIncarnation, fromIncarnation));
    }
  }

  private decide(link: Link, message: M): LinkDecision {
    for (const policy of this.policies) {
      const decision = policy(link, message, this.world.random, this.world.nowUs);
      if (decision !== undefined) return decision;
    }
    return { delaysUs: [this.defaultDelayUs(link)], fifo: true };
  }

  /** The fault-free delay of a link: what policies that only add delay build on. */
  defaultDelayUs(link: Link): number {
    if (link.from === link.to) return this.options.localDelayUs;
    return this.world.random.int(this.options.minDelayUs, this.options.maxDelayUs);
  }

  private deliver(from: string, to: string, message: M, toIncarnation: number | undefined, fromIncarnation: number): void {
    const handler = this.handlers.get(to);
    if (handler === undefined || (toIncarnation !== undefined && this.incarnations!.current(to) !== toIncarnation)) {
      this.counts.undeliverable++;
      this.onUndeliverable?.(from, to, message);
      return;
    }
    this.counts.delivered++;
    handler(from, message, fromIncarnation);
  }
}
