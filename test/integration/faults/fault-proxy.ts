// A TCP fault proxy between the nodes of a test cluster. Every node announces its proxy listener
// as its peer address (RINGKV_PEER_ADVERTISE_ADDRESS), so every node-to-node connection passes
// through here. The proxy relays bytes only: it reads the dialer's name from the first frame (the
// handshake's Hello carries it in the clear), which tells it which pair of nodes and which
// direction each byte belongs to, and then applies the current rule for that direction.
//
// Rules, per ordered pair (from → to):
//   - pass: bytes flow;
//   - blackhole: bytes are held, never delivered while the rule lasts; the TCP connection stays
//     up (a partition the sockets do not notice). On heal the held bytes flow again, as TCP
//     retransmission would deliver them;
//   - drop: connections between the pair are closed and new ones are closed at once (a partition
//     that resets connections).
// A one-way partition is a blackhole in one direction only. The proxy never changes, reorders or
// duplicates a byte; it does not know what the bytes mean beyond the dialer's name.

import { type Server, type Socket, connect, createServer } from 'node:net';

export type LinkRule = 'pass' | 'blackhole' | 'drop';

/** Largest first frame the proxy buffers while it looks for the dialer's name (a Hello is ~100 bytes). */
const helloBytesMax = 4096;

/** One direction of a relayed connection. */
interface Direction {
  readonly from: string;
  readonly to: string;
  /** Bytes read while a rule held this direction; delivered, in order, when it lifts. */
  readonly held: Buffer[];
  /** The source is paused because the destination's buffer is full (not because of a rule). */
  backpressured: boolean;
}

/** One relayed connection between a dialer and the node whose listener it dialled. */
class Link {
  private upstream: Socket | undefined;
  private closed = false;
  private forward: Direction | undefined;
  private backward: Direction | undefined;
  private pendingHello: Buffer = Buffer.alloc(0);

  constructor(
    private readonly downstream: Socket,
    private readonly target: NodeEntry,
    private readonly proxy: FaultProxy,
  ) {
    downstream.setNoDelay(true);
    downstream.on('data', (chunk: Buffer) => this.onDownstreamData(chunk));
    downstream.on('error', () => this.close());
    downstream.on('close', () => this.close());
  }

  /** Until the dialer is known, its bytes are collected; once known, they go through the rules. */
  private onDownstreamData(chunk: Buffer): void {
    if (this.forward !== undefined) return this.relay(this.forward, chunk);
    this.pendingHello = Buffer.concat([this.pendingHello, chunk]);
    let dialer = this.proxy.identify(this.pendingHello, this.target.name);
    if (dialer === undefined && this.pendingHello.length < helloBytesMax) {
      const frameComplete = this.pendingHello.length >= 4 && this.pendingHello.length >= 4 + this.pendingHello.readUInt32BE(0);
      if (!frameComplete) return;
      dialer = 'unknown';
    }
    dialer ??= 'unknown';
    this.forward = { from: dialer, to: this.target.name, held: [], backpressured: false };
    this.backward = { from: this.target.name, to: dialer, held: [], backpressured: false };
    const first = this.pendingHello;
    this.pendingHello = Buffer.alloc(0);
    if (this.proxy.ruleBetween(dialer, this.target.name) === 'drop') {
      this.proxy.counts.refused++;
      return this.close();
    }
    this.relay(this.forward, first);
  }

  private sourceOf(direction: Direction): Socket | undefined {
    return direction === this.forward ? this.downstream : this.upstream;
  }

  /** The upstream connection to the node is opened only when the first byte is to reach it. */
  private destinationOf(direction: Direction): Socket {
    if (direction === this.backward) return this.downstream;
    if (this.upstream !== undefined) return this.upstream;
    const upstream = connect({ host: '127.0.0.1', port: this.target.realPort });
    upstream.setNoDelay(true);
    upstream.on('data', (chunk: Buffer) => this.relay(this.backward!, chunk));
    upstream.on('error', () => this.close());
    upstream.on('close', () => this.close());
    this.upstream = upstream;
    return upstream;
  }

  private relay(direction: Direction, chunk: Buffer): void {
    if (this.closed) return;
    if (direction.held.length > 0 || this.proxy.rule(direction.from, direction.to) !== 'pass') {
      // Held, and the source is no longer read: its sender's buffers fill as over a dead network.
      direction.held.push(chunk);
      this.sourceOf(direction)?.pause();
      return;
    }
    this.write(direction, chunk);
  }

  private write(direction: Direction, chunk: Buffer): void {
    if (this.closed) return;
    const destination = this.destinationOf(direction);
    if (destination.write(chunk) || direction.backpressured) return;
    direction.backpressured = true;
    this.sourceOf(direction)?.pause();
    destination.once('drain', () => {
      direction.backpressured = false;
      if (!this.closed && this.proxy.rule(direction.from, direction.to) === 'pass') this.sourceOf(direction)?.resume();
    });
  }

  /** Applies the current rules: closes a dropped link, delivers bytes held by a lifted blackhole. */
  reapply(): void {
    if (this.closed || this.forward === undefined) return;
    if (this.proxy.ruleBetween(this.forward.from, this.forward.to) === 'drop') return this.close();
    for (const direction of [this.forward, this.backward!]) {
      if (this.proxy.rule(direction.from, direction.to) !== 'pass') continue;
      for (const chunk of direction.held.splice(0)) this.write(direction, chunk);
      if (!direction.backpressured) this.sourceOf(direction)?.resume();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.downstream.destroy();
    this.upstream?.destroy();
    this.proxy.forget(this);
  }
}

interface NodeEntry {
  readonly name: string;
  /** Where the node really listens for peers. */
  readonly realPort: number;
  /** Where the proxy listens for it: the address the node announces. */
  readonly proxyPort: number;
  readonly server: Server;
}

export class FaultProxy {
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly links = new Set<Link>();
  /** Rules that are not `pass`, keyed `from→to`. */
  private readonly rules = new Map<string, LinkRule>();
  /** Counts for reports: connections relayed and refused, bytes held by blackholes. */
  readonly counts = { connections: 0, refused: 0, reapplied: 0 };

  /** Starts a listener for node `name`, which really listens for peers on `realPort`. Returns the proxy port. */
  async addNode(name: string, realPort: number, proxyPort = 0): Promise<number> {
    if (this.nodes.has(name)) throw new Error(`node ${name} already has a proxy listener`);
    const server = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(proxyPort, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
    const entry: NodeEntry = { name, realPort, proxyPort: port, server };
    server.on('connection', (socket) => {
      this.counts.connections++;
      socket.on('error', () => undefined);
      this.links.add(new Link(socket, entry, this));
    });
    this.nodes.set(name, entry);
    return port;
  }

  proxyAddress(name: string): string {
    const entry = this.nodes.get(name);
    if (entry === undefined) throw new Error(`no proxy listener for ${name}`);
    return `127.0.0.1:${entry.proxyPort}`;
  }

  /** The dialer named in a Hello, found by looking for the known node names in its bytes. */
  identify(firstBytes: Buffer, target: string): string | undefined {
    const text = firstBytes.toString('latin1');
    for (const name of this.nodes.keys()) if (name !== target && text.includes(name)) return name;
    return undefined;
  }

  rule(from: string, to: string): LinkRule {
    return this.rules.get(`${from}→${to}`) ?? 'pass';
  }

  /** The stronger of the two directions' rules: `drop` on either side closes the connection. */
  ruleBetween(a: string, b: string): LinkRule {
    const ab = this.rule(a, b);
    const ba = this.rule(b, a);
    if (ab === 'drop' || ba === 'drop') return 'drop';
    return ab === 'blackhole' || ba === 'blackhole' ? 'blackhole' : 'pass';
  }

  /** Sets the rule for bytes from `from` to `to` (one direction). */
  setRule(from: string, to: string, rule: LinkRule): void {
    if (rule === 'pass') this.rules.delete(`${from}→${to}`);
    else this.rules.set(`${from}→${to}`, rule);
    this.reapply();
  }

  /** Cuts every pair of nodes in different groups, both ways. Nodes in no group are left alone. */
  partition(groups: readonly (readonly string[])[], rule: Exclude<LinkRule, 'pass'>): void {
    for (const [i, group] of groups.entries()) {
      for (const [j, other] of groups.entries()) {
        if (i === j) continue;
        for (const a of group) for (const b of other) this.rules.set(`${a}→${b}`, rule);
      }
    }
    this.reapply();
  }

  /** Every rule back to pass; held bytes are delivered. */
  heal(): void {
    this.rules.clear();
    this.reapply();
  }

  /** A description of the rules in force, for logs. */
  describe(): string {
    return this.rules.size === 0 ? 'all links pass' : [...this.rules].map(([k, v]) => `${k} ${v}`).join(', ');
  }

  private reapply(): void {
    this.counts.reapplied++;
    for (const link of [...this.links]) link.reapply();
  }

  forget(link: Link): void {
    this.links.delete(link);
  }

  get openLinks(): number {
    return this.links.size;
  }

  async close(): Promise<void> {
    for (const link of [...this.links]) link.close();
    await Promise.all([...this.nodes.values()].map((n) => new Promise<void>((resolve) => n.server.close(() => resolve()))));
    this.nodes.clear();
  }
}
