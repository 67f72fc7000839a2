#!/usr/bin/env node
// The `ringkv` command: `start` runs a node in the foreground; `get`, `put` and `delete` talk to a
// running node over its HTTP API. It parses arguments, prints, and picks exit codes; settings and
// their checks belong to runtime/config, and the node itself to runtime/node.

import { Buffer } from 'node:buffer';
import { constants as osConstants } from 'node:os';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, defaultConfig, describeConfig, flagName, loadConfig } from '../runtime/config.js';
import type { ConfigFlags, NodeConfig, ScalarField } from '../runtime/config.js';
import { createLogger } from '../runtime/log.js';
import type { Logger } from '../runtime/log.js';
import type { RunningNode } from '../runtime/node.js';
import { addBucketTypeCommands, addClusterCommands } from './cluster-commands.js';
import { type NodeAddress, defaultNodeAddress, parseNodeAddress } from './node-address.js';

const exitCodes = { ok: 0, notFound: 1, usage: 2, unavailable: 3 } as const;
const startFailedExitCode = 1;
/** How long the client waits beyond the request's own timeout before giving up on the node. */
// Output piped into a reader that stops early (`ringkv --help | head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const clientMarginMs = 5000;
/** How long `start` waits beyond shutdownTimeoutMs for the node to report that it stopped. */
const stopMarginMs = 5000;
const contextHeader = 'x-ringkv-context';

// ---------------------------------------------------------------------------------------------
// ringkv start

/** The settings `start` takes as flags, with the name of each flag's argument. */
const startFlags: ReadonlyArray<readonly [ScalarField, string]> = [
  ['dataDir', 'dir'],
  ['nodeName', 'name'],
  ['workers', 'n'],
  ['partitions', 'q'],
  ['httpHost', 'host'],
  ['httpPort', 'port'],
  ['pbHost', 'host'],
  ['pbPort', 'port'],
  ['respHost', 'host'],
  ['respPort', 'port'],
  ['peerHost', 'host'],
  ['peerPort', 'port'],
  ['clusterName', 'name'],
  ['zone', 'zone'],
  ['join', 'host:port'],
  ['durability', 'mode'],
  ['logLevel', 'level'],
];

function settingsHelp(): string {
  const rows = describeConfig();
  const lines = rows.map((row) => `  ${row.field.padEnd(24)} ${(row.envVar ?? '(config file only)').padEnd(34)} ${row.defaultValue}`);
  return [
    '',
    'Settings merge as defaults < config file (JSON, keys as below) < environment < flags.',
    `  ${'setting'.padEnd(24)} ${'environment variable'.padEnd(34)} default`,
    ...lines,
  ].join('\n');
}

function writeLine(stream: NodeJS.WriteStream, line: string): void {
  stream.write(`${line}\n`);
}

async function runStart(options: Readonly<Record<string, string | undefined>>): Promise<void> {
  const flags: Record<string, string> = {};
  for (const [field] of startFlags) {
    const value = options[field];
    if (value !== undefined) flags[field] = value;
  }
  const configFile = options['config'];
  let config: NodeConfig;
  let logger: Logger;
  try {
    config = loadConfig({ flags: flags as ConfigFlags, env: process.env, ...(configFile === undefined ? {} : { configFile }) });
    logger = createLogger({ level: config.logLevel, name: config.nodeName });
  } catch (error) {
    writeLine(process.stderr, `ringkv: ${(error as Error).message}`);
    process.exit(error instanceof ConfigError ? exitCodes.usage : startFailedExitCode);
  }

  let node: RunningNode | undefined;
  let stopReason: string | undefined;
  const requestStop = (running: RunningNode, reason: string): void => {
    setTimeout(() => {
      writeLine(process.stderr, `ringkv: node did not stop within ${config.shutdownTimeoutMs + stopMarginMs} ms; exiting`);
      process.exit(startFailedExitCode);
    }, config.shutdownTimeoutMs + stopMarginMs);
    running.stop(reason).catch((error: unknown) => {
      logger.fatal({ err: error }, 'stop failed');
      process.exit(startFailedExitCode);
    });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopReason !== undefined) {
      writeLine(process.stderr, `ringkv: second ${signal} while stopping; exiting without a clean stop`);
      process.exit(128 + (osConstants.signals[signal] ?? 0));
    }
    stopReason = `signal ${signal}`;
    logger.info({ signal }, 'stopping on signal');
    if (node !== undefined) requestStop(node, stopReason);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    // Imported here so that client commands never load the storage engine or worker code.
    const { startNode } = await import('../runtime/node.js');
    node = await startNode(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, 'start failed');
    writeLine(process.stderr, `ringkv: failed to start: ${(error as Error).message}`);
    process.exit(startFailedExitCode);
  }
  for (const [protocol, address] of Object.entries(node.addresses)) {
    if (address !== undefined) writeLine(process.stdout, `ringkv: listening ${protocol} on ${address}`);
  }
  if (Object.values(node.addresses).every((address) => address === undefined)) {
    writeLine(process.stdout, 'ringkv: no listeners enabled (every port is 0); the node serves nothing');
  }
  writeLine(process.stdout, `ringkv: data in ${resolve(config.dataDir)}`);
  if (stopReason !== undefined) requestStop(node, stopReason);

  const { exitCode } = await node.stopped;
  process.exit(exitCode);
}

// ---------------------------------------------------------------------------------------------
// The HTTP client commands

interface ClientOptions {
  readonly node: NodeAddress;
  readonly type: string;
  readonly json?: boolean;
  readonly r?: string;
  readonly w?: string;
  readonly dw?: string;
  readonly nVal?: number;
  readonly timeoutMs?: number;
  readonly contentType?: string;
  readonly context?: string;
  readonly returnBody?: boolean;
}

class NodeUnreachableError extends Error {}

function parseQuorum(text: string): string {
  if (/^(\d+|one|quorum|all|default)$/.test(text)) return text;
  throw new InvalidArgumentError('must be a non-negative integer or one of one, quorum, all, default');
}

function parsePositiveInteger(text: string): number {
  const value = Number(text);
  if (/^\d+$/.test(text) && Number.isSafeInteger(value) && value > 0) return value;
  throw new InvalidArgumentError('must be a positive integer');
}

function keyUrl(options: ClientOptions, bucket: string, key: string, query: URLSearchParams): string {
  const path = ['v1', 'types', options.type, 'buckets', bucket, 'keys', key].map(encodeURIComponent).join('/');
  const search = query.toString();
  return `${options.node.origin}/${path}${search === '' ? '' : `?${search}`}`;
}

function requestQuery(options: ClientOptions, names: ReadonlyArray<'r' | 'w' | 'dw'>): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of names) {
    const value = options[name];
    if (value !== undefined) query.set(name, value);
  }
  if (options.nVal !== undefined) query.set('n_val', String(options.nVal));
  if (options.timeoutMs !== undefined) query.set('timeout_ms', String(options.timeoutMs));
  return query;
}

async function send(options: ClientOptions, url: string, init: RequestInit): Promise<Response> {
  const waitMs = (options.timeoutMs ?? defaultConfig.maxTimeoutMs) + clientMarginMs;
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(waitMs) });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    const detail =
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${waitMs} ms`
        : cause instanceof Error
          ? cause.message
          : (error as Error).message;
    throw new NodeUnreachableError(`cannot reach node ${options.node.label} (${detail})`);
  }
}

interface SiblingOutput {
  readonly value: string | null;
  readonly value_base64: string;
  readonly content_type: string | null;
  readonly last_modified: unknown;
  readonly vtag: string | null;
}

/** The --json output of a read. `value` is the value as text when it is valid UTF-8, else null. */
interface ReadOutput {
  readonly found: boolean;
  readonly value: string | null;
  readonly value_base64: string | null;
  readonly content_type: string | null;
  readonly context: string | null;
  readonly siblings: readonly SiblingOutput[];
}

function textOf(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function siblingFrom(raw: unknown): SiblingOutput | undefined {
  if (!isRecord(raw) || typeof raw['value_base64'] !== 'string') return undefined;
  const valueBase64 = raw['value_base64'];
  return {
    value: textOf(Buffer.from(valueBase64, 'base64')),
    value_base64: valueBase64,
    content_type: typeof raw['content_type'] === 'string' ? raw['content_type'] : null,
    last_modified: raw['last_modified'] ?? null,
    vtag: typeof raw['vtag'] === 'string' ? raw['vtag'] : null,
  };
}

/** Reads a 200 (one value) or 300 (siblings) answer; undefined when the 300 body is malformed. */
async function readOutput(response: Response): Promise<ReadOutput | undefined> {
  if (response.status === 300) {
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      return undefined;
    }
    if (!isRecord(body) || !Array.isArray(body['siblings'])) return undefined;
    const siblings = body['siblings'].map(siblingFrom);
    if (siblings.some((sibling) => sibling === undefined)) return undefined;
    const context = typeof body['context'] === 'string' ? body['context'] : response.headers.get(contextHeader);
    return { found: true, value: null, value_base64: null, content_type: null, context, siblings: siblings as SiblingOutput[] };
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  return {
    found: true,
    value: textOf(bytes),
    value_base64: Buffer.from(bytes).toString('base64'),
    content_type: response.headers.get('content-type'),
    context: response.headers.get(contextHeader),
    siblings: [],
  };
}

function printReadable(output: ReadOutput): void {
  if (output.siblings.length === 0) {
    const bytes = Buffer.from(output.value_base64 ?? '', 'base64');
    process.stdout.write(bytes);
    if (process.stdout.isTTY === true && bytes.at(-1) !== 0x0a) process.stdout.write('\n');
    return;
  }
  writeLine(process.stdout, `${output.siblings.length} siblings; resolve them by writing with --context ${output.context ?? ''}`);
  output.siblings.forEach((sibling, index) => {
    const details = [`vtag ${sibling.vtag ?? '?'}`, sibling.content_type ?? 'no content type', `last modified ${String(sibling.last_modified)}`];
    writeLine(process.stdout, `--- sibling ${index + 1} of ${output.siblings.length} (${details.join(', ')})`);
    const bytes = Buffer.from(sibling.value_base64, 'base64');
    const printable = sibling.value !== null && !/[\u0000-\u0008\u000e-\u001f]/.test(sibling.value);
    writeLine(process.stdout, printable ? (sibling.value ?? '').replace(/\n$/, '') : `<${bytes.length} bytes of binary; base64 ${sibling.value_base64}>`);
  });
}

async function reportServerError(options: ClientOptions, response: Response): Promise<number> {
  const text = await response.text().catch(() => '');
  let code = `http_${response.status}`;
  let message = text.slice(0, 500);
  try {
    const body: unknown = JSON.parse(text);
    const error = isRecord(body) ? body['error'] : undefined;
    if (isRecord(error)) {
      code = String(error['code']);
      message = String(error['message']);
    }
  } catch {
    // Not JSON: report the status and the start of the body as they are.
  }
  writeLine(process.stderr, `ringkv: node ${options.node.label} answered ${response.status}: ${code}: ${message}`);
  if (options.json === true) writeLine(process.stdout, JSON.stringify({ error: { code, message, status: response.status } }));
  return exitCodes.unavailable;
}

function reportNotFound(options: ClientOptions, bucket: string, key: string, context: string | null): number {
  if (options.json === true) {
    const output: ReadOutput = { found: false, value: null, value_base64: null, content_type: null, context, siblings: [] };
    writeLine(process.stdout, JSON.stringify(output));
  } else {
    writeLine(process.stderr, `ringkv: not found: type ${options.type}, bucket ${bucket}, key ${key}`);
  }
  return exitCodes.notFound;
}

/** Prints a 200/300 answer that carries a value, or reports it malformed. */
async function printValue(options: ClientOptions, response: Response): Promise<number> {
  const output = await readOutput(response);
  if (output === undefined) {
    writeLine(process.stderr, `ringkv: node ${options.node.label} answered 300 with a malformed sibling list`);
    return exitCodes.unavailable;
  }
  if (options.json === true) writeLine(process.stdout, JSON.stringify(output));
  else printReadable(output);
  return exitCodes.ok;
}

async function runGet(bucket: string, key: string, options: ClientOptions): Promise<number> {
  const response = await send(options, keyUrl(options, bucket, key, requestQuery(options, ['r'])), { method: 'GET' });
  if (response.status === 404) {
    await response.body?.cancel();
    return reportNotFound(options, bucket, key, response.headers.get(contextHeader));
  }
  if (response.status === 200 || response.status === 300) return printValue(options, response);
  return reportServerError(options, response);
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function runPut(bucket: string, key: string, value: string | undefined, options: ClientOptions): Promise<number> {
  const body = value === undefined ? await readStdin() : Buffer.from(value, 'utf8');
  const query = requestQuery(options, ['w', 'dw']);
  if (options.returnBody === true) query.set('return_body', 'true');
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/octet-stream' };
  if (options.context !== undefined) headers[contextHeader] = options.context;
  const response = await send(options, keyUrl(options, bucket, key, query), { method: 'PUT', headers, body });
  if (!response.ok && response.status !== 300) return reportServerError(options, response);
  if (options.returnBody === true && (response.status === 200 || response.status === 300)) return printValue(options, response);
  await response.body?.cancel();
  if (options.json === true) writeLine(process.stdout, JSON.stringify({ ok: true, context: response.headers.get(contextHeader) }));
  return exitCodes.ok;
}

async function runDelete(bucket: string, key: string, options: ClientOptions): Promise<number> {
  const headers: Record<string, string> = {};
  if (options.context !== undefined) headers[contextHeader] = options.context;
  const url = keyUrl(options, bucket, key, requestQuery(options, ['w', 'dw']));
  const response = await send(options, url, { method: 'DELETE', headers });
  if (response.status === 404) {
    await response.body?.cancel();
    return reportNotFound(options, bucket, key, response.headers.get(contextHeader));
  }
  if (!response.ok) return reportServerError(options, response);
  await response.body?.cancel();
  if (options.json === true) writeLine(process.stdout, JSON.stringify({ ok: true, context: response.headers.get(contextHeader) }));
  return exitCodes.ok;
}

/** Runs a client command and turns an unreachable node into exit code 3. */
async function runClient(command: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await command();
  } catch (error) {
    if (!(error instanceof NodeUnreachableError)) throw error;
    writeLine(process.stderr, `ringkv: ${error.message}`);
    process.exitCode = exitCodes.unavailable;
  }
}

// ---------------------------------------------------------------------------------------------
// Commands over the protocol-buffers port, through the TypeScript client

const defaultPbNodeAddress = '127.0.0.1:8087';

interface PbCommandOptions {
  readonly node: string;
  readonly type: string;
  readonly timeoutMs?: number;
  readonly json?: boolean;
}

/** Runs a command with a client connected to one node; client errors become exit code 3. */
async function withClient(options: PbCommandOptions, run: (client: import('../client/index.js').RingkvClient) => Promise<number>): Promise<void> {
  // Loaded here so that `start` and `--help` never load the client.
  const { connect, RingkvError } = await import('../client/index.js');
  const client = await connect({ nodes: [options.node], poolSize: 1, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
  try {
    process.exitCode = await run(client);
  } catch (error) {
    if (!(error instanceof RingkvError)) throw error;
    writeLine(process.stderr, `ringkv: ${options.node}: ${error.code}: ${error.message}`);
    process.exitCode = exitCodes.unavailable;
  } finally {
    await client.close();
  }
}

async function runListKeys(bucket: string, options: PbCommandOptions): Promise<void> {
  await withClient(options, async (client) => {
    const keys = await client.listKeys(bucket, { type: options.type });
    if (options.json === true) writeLine(process.stdout, JSON.stringify(keys.map((key) => key.toString('utf8'))));
    else for (const key of keys) writeLine(process.stdout, key.toString('utf8'));
    return exitCodes.ok;
  });
}

async function runBucketProps(bucket: string, options: PbCommandOptions): Promise<void> {
  await withClient(options, async (client) => {
    const props = await client.bucketProps(bucket, { type: options.type });
    if (options.json === true) writeLine(process.stdout, JSON.stringify(props));
    else for (const [name, value] of Object.entries(props)) writeLine(process.stdout, `${name}: ${String(value)}`);
    return exitCodes.ok;
  });
}

function pbCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .option('--node <host:port>', 'node to talk to, over its protocol-buffers port', defaultPbNodeAddress)
    .option('--type <type>', 'bucket type', 'default')
    .option('--timeout-ms <ms>', 'request timeout (default 5000)', parsePositiveInteger)
    .option('--json', 'print JSON');
}

// ---------------------------------------------------------------------------------------------
// Commands

function clientCommand(program: Command, name: string, description: string, quorums: ReadonlyArray<'r' | 'w' | 'dw'>): Command {
  const command = program
    .command(name)
    .description(description)
    .addOption(
      new Option('--node <host:port>', 'node to talk to, over its HTTP API')
        .argParser(parseNodeAddress)
        .default(parseNodeAddress(defaultNodeAddress), defaultNodeAddress),
    )
    .option('--type <type>', 'bucket type', 'default');
  const quorumHelp = { r: 'replicas that must answer a read', w: 'replicas that must acknowledge a write', dw: 'replicas that must make the write durable' };
  for (const quorum of quorums) {
    command.option(`--${quorum} <quorum>`, `${quorumHelp[quorum]} (integer, one, quorum, all, or default; default from the bucket type)`, parseQuorum);
  }
  return command
    .option('--n-val <n>', 'replicas of the key (default from the bucket type)', parsePositiveInteger)
    .option('--timeout-ms <ms>', "request timeout (default: the node's defaultTimeoutMs)", parsePositiveInteger)
    .option('--json', 'print machine-readable JSON: {found, value, value_base64, content_type, context, siblings}');
}

function buildProgram(): Command {
  const program = new Command('ringkv')
    .description('ringkv: a Dynamo-style distributed key-value store')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 found or done, 1 not found, 2 usage or configuration error, 3 server error or node unreachable.\n' +
        'Run `ringkv start --help` for every setting, its default and its environment variable.',
    );

  const start = program
    .command('start')
    .description('run a node in the foreground until SIGINT or SIGTERM')
    .addOption(new Option('--config <file>', 'JSON config file; its keys are the setting names below').env('RINGKV_CONFIG'));
  const rows = new Map(describeConfig().map((row) => [row.field, row]));
  for (const [field, argument] of startFlags) {
    const row = rows.get(field);
    start.option(`${flagName(field)} <${argument}>`, `${row?.meaning ?? field} (default: ${row?.defaultValue ?? '?'}; env ${row?.envVar ?? '-'})`);
  }
  start.addHelpText('after', settingsHelp()).action(async (options: Record<string, string | undefined>) => {
    await runStart(options);
  });

  clientCommand(program, 'get', 'read a key; prints its value, or every sibling', ['r'])
    .argument('<bucket>')
    .argument('<key>')
    .action(async (bucket: string, key: string, options: ClientOptions) => runClient(() => runGet(bucket, key, options)));

  clientCommand(program, 'put', 'write a value, from the argument or else from stdin', ['w', 'dw'])
    .argument('<bucket>')
    .argument('<key>')
    .argument('[value]', 'the value; read from stdin when absent')
    .option('--content-type <type>', 'content type of the value', 'application/octet-stream')
    .option('--context <context>', 'causal context from an earlier read; without it the write is blind and may add a sibling')
    .option('--return-body', 'print the object after the write, as get does')
    .action(async (bucket: string, key: string, value: string | undefined, options: ClientOptions) =>
      runClient(() => runPut(bucket, key, value, options)),
    );

  clientCommand(program, 'delete', 'delete a key (writes a tombstone)', ['w', 'dw'])
    .argument('<bucket>')
    .argument('<key>')
    .option('--context <context>', 'causal context from an earlier read; deletes exactly what that read saw')
    .action(async (bucket: string, key: string, options: ClientOptions) => runClient(() => runDelete(bucket, key, options)));

  pbCommand(program, 'list-keys', 'list the live keys of a bucket (scans every partition: for administration)')
    .argument('<bucket>')
    .action(async (bucket: string, options: PbCommandOptions) => runListKeys(bucket, options));

  pbCommand(program, 'bucket-props', "show a bucket's properties")
    .argument('<bucket>')
    .action(async (bucket: string, options: PbCommandOptions) => runBucketProps(bucket, options));

  addClusterCommands(program);
  addBucketTypeCommands(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  // Commander has already printed its message; help and version exit 0, every other usage error 2.
  if (!(error instanceof CommanderError)) throw error;
  process.exitCode = error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
}
