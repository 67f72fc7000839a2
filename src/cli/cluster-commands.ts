// `ringkv cluster ...`: membership administration over a node's HTTP API (/v1/cluster/*).
// join, leave and clear stage changes; plan shows what committing would move; commit applies the
// staged changes (at the claimant); status and ring show the cluster as the asked node sees it.

import { type Command, InvalidArgumentError, Option } from 'commander';
import { type NodeAddress, defaultNodeAddress, parseNodeAddress } from './node-address.js';

const exitOk = 0;
const exitUnavailable = 3;
/** No node answered (exit-codes.ts: the same code for every command). */
const exitUnreachable = 4;
const requestTimeoutMs = 30_000;

interface ClusterOptions {
  readonly node: NodeAddress;
  readonly json?: boolean;
}

function writeLine(stream: NodeJS.WriteStream, line: string): void {
  stream.write(`${line}\n`);
}

async function call(options: ClusterOptions, method: 'GET' | 'POST' | 'PUT', action: string, body?: unknown): Promise<{ status: number; document: Record<string, unknown> } | undefined> {
  let response: Response;
  try {
    response = await fetch(`${options.node.origin}${action.startsWith('/') ? action : `/v1/cluster/${action}`}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    writeLine(process.stderr, `ringkv: cannot reach node ${options.node.label} (${cause instanceof Error ? cause.message : (error as Error).message})`);
    return undefined;
  }
  const text = await response.text();
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(text) as Record<string, unknown>;
  } catch {
    document = { error: { code: `http_${response.status}`, message: text.slice(0, 500) } };
  }
  return { status: response.status, document };
}

/** Prints the answer (JSON or via `human`) and returns the exit code. */
async function run(options: ClusterOptions, method: 'GET' | 'POST' | 'PUT', action: string, body: unknown, human: (document: Record<string, unknown>) => void): Promise<void> {
  const answer = await call(options, method, action, body);
  if (answer === undefined) {
    process.exitCode = exitUnreachable;
    return;
  }
  if (answer.status !== 200) {
    const error = answer.document['error'] as { code?: string; message?: string } | undefined;
    writeLine(process.stderr, `ringkv: node ${options.node.label} answered ${answer.status}: ${error?.code ?? '?'}: ${error?.message ?? ''}`);
    if (options.json === true) writeLine(process.stdout, JSON.stringify(answer.document));
    process.exitCode = exitUnavailable;
    return;
  }
  if (options.json === true) writeLine(process.stdout, JSON.stringify(answer.document, null, 2));
  else human(answer.document);
  process.exitCode = exitOk;
}

interface PlanDocument {
  readonly joining: string[];
  readonly leaving: string[];
  readonly moves: { partition: number; from: string; to: string }[];
}

function printPlan(plan: PlanDocument): void {
  if (plan.joining.length === 0 && plan.leaving.length === 0) {
    writeLine(process.stdout, 'nothing staged');
    return;
  }
  for (const name of plan.joining) writeLine(process.stdout, `join   ${name}`);
  for (const name of plan.leaving) writeLine(process.stdout, `leave  ${name}`);
  writeLine(process.stdout, `${plan.moves.length} partitions move:`);
  const byPair = new Map<string, number[]>();
  for (const move of plan.moves) {
    const key = `${move.from} -> ${move.to}`;
    byPair.set(key, [...(byPair.get(key) ?? []), move.partition]);
  }
  for (const [pair, partitions] of byPair) writeLine(process.stdout, `  ${pair}: ${partitions.length} (${partitions.join(' ')})`);
}

const seconds = (ms: unknown): string => (typeof ms === 'number' ? `${Math.round(ms / 1000)} s` : 'never');

/** Anti-entropy on the node asked: totals, then one line per partition it keeps trees for. */
function printAntiEntropy(aae: Record<string, unknown> | undefined): void {
  if (aae === undefined || aae['enabled'] !== true) {
    writeLine(process.stdout, 'anti-entropy: off on this node');
    return;
  }
  writeLine(
    process.stdout,
    `anti-entropy on this node: ${String(aae['treesReady'])} trees ready, ${String(aae['treesRebuilding'])} building, ${String(aae['exchangesLastMinute'])} exchanges in the last minute, ${String(aae['keysRepaired'])} keys repaired; every tree exchanged within ${seconds(aae['oldestExchangeAgeMs'])}`,
  );
  const partitions = (aae['partitions'] ?? []) as Record<string, unknown>[];
  if (partitions.length === 0) return;
  writeLine(process.stdout, `  ${'partition'.padStart(9)} ${'trees'.padEnd(10)} ${'keys'.padStart(8)} ${'exchanges'.padStart(9)} ${'oldest'.padStart(8)} last result`);
  for (const p of partitions) {
    writeLine(
      process.stdout,
      `  ${String(p['partition']).padStart(9)} ${String(p['state']).padEnd(10)} ${String(p['keys']).padStart(8)} ${String(p['exchanges']).padStart(9)} ${seconds(p['oldestExchangeAgeMs']).padStart(8)} ${String(p['lastResult'] ?? '-')}`,
    );
  }
}

/** Tombstones the node asked looks after: awaiting reaping, reaped, and why some wait. */
function printTombstones(tombstones: Record<string, unknown> | undefined): void {
  if (tombstones === undefined || tombstones['enabled'] !== true) {
    writeLine(process.stdout, 'tombstone reaping: off on this node');
    return;
  }
  const blocked = Object.entries((tombstones['blocked'] ?? {}) as Record<string, number>)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`);
  if (tombstones['awaiting'] === null) {
    writeLine(process.stdout, `tombstones awaiting reaping: not counted yet (the first pass runs ${seconds(tombstones['intervalMs'])} after the start)`);
    return;
  }
  writeLine(
    process.stdout,
    `tombstones awaiting reaping: ${String(tombstones['awaiting'])} (reaped ${String(tombstones['reaped'])}; reaped once ${seconds(tombstones['delayMs'])} old and held by every replica${blocked.length === 0 ? '' : `; kept so far: ${blocked.join(', ')}`})`,
  );
}

function printStatus(status: Record<string, unknown>): void {
  writeLine(process.stdout, `cluster ${String(status['cluster'])}, ${String(status['partitions'])} partitions, ring version ${String(status['ringVersion'])}, claimant ${String(status['claimant'])} (asked ${String(status['node'])})`);
  const members = status['members'] as Record<string, unknown>[];
  writeLine(process.stdout, `${'member'.padEnd(28)} ${'status'.padEnd(10)} ${'owned'.padStart(5)} ${'in'.padStart(4)} ${'out'.padStart(4)} ${'liveness'.padEnd(12)} ${'phi'.padStart(6)} peer address`);
  for (const m of members) {
    const status_ = `${String(m['status'])}${m['staged'] === true ? '*' : ''}`;
    writeLine(
      process.stdout,
      `${String(m['name']).padEnd(28)} ${status_.padEnd(10)} ${String(m['partitionsOwned']).padStart(5)} ${String(m['partitionsIncoming']).padStart(4)} ${String(m['partitionsOutgoing']).padStart(4)} ${String(m['liveness'] ?? '?').padEnd(12)} ${String(m['phi'] ?? '').padStart(6)} ${String(m['peerAddress'])}`,
    );
  }
  if (members.some((m) => m['staged'] === true)) writeLine(process.stdout, '(* staged, not yet committed: see `ringkv cluster plan`, then `ringkv cluster commit`)');
  const hints = (status['hints'] ?? []) as { owner: string; partitions: number; objects: number; ownerUp: boolean }[];
  for (const h of hints) {
    writeLine(process.stdout, `hints held here for ${h.owner}: ${h.objects} objects in ${h.partitions} partitions (${h.ownerUp ? 'handing off' : 'waiting for it to be reachable'})`);
  }
  printAntiEntropy(status['antiEntropy'] as Record<string, unknown> | undefined);
  printTombstones(status['tombstones'] as Record<string, unknown> | undefined);
  const transfers = status['transfers'] as Record<string, unknown>[];
  writeLine(process.stdout, `pending transfers in the cluster: ${String(status['pendingTransfers'])}`);
  if (transfers.length === 0) return;
  // Partitions in grace (handed off, copy kept a little longer) are counted; the rest listed.
  const inGrace = transfers.filter((t) => t['phase'] === 'grace' || t['phase'] === 'dropping').length;
  const active = transfers.filter((t) => t['phase'] !== 'grace' && t['phase'] !== 'dropping');
  writeLine(process.stdout, `sent from this node: ${active.length} in progress or waiting, ${inGrace} handed off and in their grace period`);
  for (const t of active) {
    const eta = t['etaSeconds'] === null ? '' : `, eta ${String(t['etaSeconds'])} s`;
    const error = t['blocked'] !== null ? `; ${String(t['blocked'])}` : t['lastError'] === null ? '' : `, last error: ${String(t['lastError'])}`;
    writeLine(
      process.stdout,
      `  partition ${String(t['partition'])} -> ${String(t['to'])}: ${String(t['phase'])}, ${String(t['keysSent'])}/${String(t['keysTotal'])} keys, ${String(t['bytesSent'])} bytes, ${String(t['keysPerSecond'])} keys/s${eta}${error}`,
    );
  }
}

function printRing(ring: Record<string, unknown>): void {
  const owners = ring['owners'] as { partition: number; owner: string; next: string | null }[];
  writeLine(process.stdout, `${String(ring['partitions'])} partitions, ring version ${String(ring['ringVersion'])}`);
  for (const o of owners) writeLine(process.stdout, `${String(o.partition).padStart(5)}  ${o.owner}${o.next === null ? '' : `  -> ${o.next}`}`);
}

function clusterCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .addOption(new Option('--node <host:port>', "the node's HTTP API (httpPort), not its protocol-buffers port").argParser(parseNodeAddress).default(parseNodeAddress(defaultNodeAddress), defaultNodeAddress))
    .option('--json', 'print the JSON answer');
}

function printProps(props: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(props)) writeLine(process.stdout, `  ${name}: ${String(value)}`);
}

function parseProps(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`must be a JSON object of properties, e.g. '{"nVal": 3, "allowMult": false}' (${(error as Error).message})`);
  }
}

/** `ringkv bucket-type create|update|list|show`, over a node's HTTP API (/v1/types). */
export function addBucketTypeCommands(program: Command): void {
  const types = program.command('bucket-type').description('bucket types: create, update, list, show (properties spread to every node)');
  for (const mode of ['create', 'update'] as const) {
    clusterCommand(types, mode, mode === 'create' ? 'create a bucket type (refused if it exists)' : "change a bucket type's properties (n_val only while it holds no data)")
      .argument('<name>')
      .argument(mode === 'create' ? '[props]' : '<props>', 'JSON object of properties: nVal, r, w, dw, pr, pw, allowMult, lastWriteWins, notfoundOk, basicQuorum, maxSiblings, warnSiblings, maxObjectBytes, warnObjectBytes, datatype (counter|set, at create only), ttlMs', parseProps)
      .action(async (name: string, props: unknown, options: ClusterOptions) => {
        const path = `/v1/types/${encodeURIComponent(name)}`;
        const existing = await call(options, 'GET', path);
        if (existing === undefined) {
          process.exitCode = exitUnreachable;
          return;
        }
        if (mode === 'create' && existing.status === 200) {
          writeLine(process.stderr, `ringkv: bucket type ${name} already exists; use \`ringkv bucket-type update\``);
          process.exitCode = exitUnavailable;
          return;
        }
        if (mode === 'update' && existing.status === 404) {
          writeLine(process.stderr, `ringkv: bucket type ${name} does not exist; use \`ringkv bucket-type create\``);
          process.exitCode = exitUnavailable;
          return;
        }
        await run(options, 'PUT', path, { props: props ?? {} }, (d) => {
          writeLine(process.stdout, `bucket type ${String(d['name'])} (version ${String(d['version'])}):`);
          printProps(d['props'] as Record<string, unknown>);
        });
      });
  }
  clusterCommand(types, 'list', 'every bucket type').action(async (options: ClusterOptions) =>
    run(options, 'GET', '/v1/types', undefined, (d) => {
      for (const t of d['types'] as { name: string; props: Record<string, unknown> }[]) writeLine(process.stdout, `${t.name}  nVal=${String(t.props['nVal'])} allowMult=${String(t.props['allowMult'])}`);
    }),
  );
  clusterCommand(types, 'show', "a bucket type's properties")
    .argument('<name>')
    .action(async (name: string, options: ClusterOptions) =>
      run(options, 'GET', `/v1/types/${encodeURIComponent(name)}`, undefined, (d) => {
        writeLine(process.stdout, `bucket type ${String(d['name'])} (version ${String(d['version'])}):`);
        printProps(d['props'] as Record<string, unknown>);
      }),
    );
}

export function addClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('cluster membership: join, leave, plan, commit, status, ring');

  clusterCommand(cluster, 'join', 'stage the join of the asked node (--node) to the cluster of the member whose peer listener is at HOST:PEER_PORT')
    .argument('<host:peer_port>')
    .action(async (seed: string, options: ClusterOptions) =>
      run(options, 'POST', 'join', { seed }, (d) => writeLine(process.stdout, `join staged; members: ${(d['members'] as string[]).join(', ')}. Run \`ringkv cluster plan\`, then \`ringkv cluster commit\`.`)),
    );

  clusterCommand(cluster, 'leave', 'stage the leave of a node (by default the asked node); its partitions move away on commit')
    .argument('[node-name]')
    .action(async (nodeName: string | undefined, options: ClusterOptions) =>
      run(options, 'POST', 'leave', nodeName === undefined ? {} : { node: nodeName }, (d) => writeLine(process.stdout, `leave of ${String(d['leaving'])} staged. Run \`ringkv cluster plan\`, then \`ringkv cluster commit\`.`)),
    );

  clusterCommand(cluster, 'plan', 'show the staged changes and the partitions they would move').action(async (options: ClusterOptions) =>
    run(options, 'GET', 'plan', undefined, (d) => printPlan(d as unknown as PlanDocument)),
  );

  clusterCommand(cluster, 'commit', 'commit the staged changes; partitions then move in the background').action(async (options: ClusterOptions) =>
    run(options, 'POST', 'commit', {}, (d) => {
      printPlan(d as unknown as PlanDocument);
      writeLine(process.stdout, 'committed; follow the transfers with `ringkv cluster status`');
    }),
  );

  clusterCommand(cluster, 'clear', 'withdraw every staged change').action(async (options: ClusterOptions) =>
    run(options, 'POST', 'clear', {}, () => writeLine(process.stdout, 'staged changes withdrawn')),
  );

  clusterCommand(cluster, 'status', 'members, their state, partitions owned, pending transfers').action(async (options: ClusterOptions) =>
    run(options, 'GET', 'status', undefined, printStatus),
  );

  clusterCommand(cluster, 'ring', 'the owner of every partition').action(async (options: ClusterOptions) => run(options, 'GET', 'ring', undefined, printRing));
}
