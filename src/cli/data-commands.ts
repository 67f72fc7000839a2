// `ringkv get|put|delete|list-keys|bucket-props`: the data commands. Each talks to one node's
// protocol-buffers port through the TypeScript client (src/client), prints the answer for a
// person or, with --json, for a script, and picks the exit code. It does not speak HTTP and never
// loads the node; administration (cluster, bucket-type) is in cluster-commands.ts.

import { Buffer } from 'node:buffer';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Context, GetReply, Quorum, RingkvClient, RingkvError, Sibling } from '../client/index.js';
import { defaultConfig } from '../runtime/config.js';
import { exitCodes } from './exit-codes.js';
import { defaultPbNodeAddress, parsePbNodeAddress } from './node-address.js';

/** How long the command waits beyond the node's own request timeout before giving up on it. */
const clientMarginMs = 5000;
/** How long bucket-props waits by default: a node answers it from memory. */
const bucketPropsWaitMs = 5000;

/** The options every data command takes. */
interface DataOptions {
  readonly node: string;
  readonly type: string;
  readonly timeoutMs?: number;
  readonly json?: boolean;
}

/** The options of get, put and delete; each command declares the ones it takes. */
interface KeyOptions extends DataOptions {
  readonly r?: Quorum;
  readonly pr?: Quorum;
  readonly w?: Quorum;
  readonly dw?: Quorum;
  readonly pw?: Quorum;
  readonly nVal?: number;
  readonly contentType?: string;
  readonly context?: Context;
  readonly returnBody?: boolean;
  readonly overwrite?: boolean;
}

function writeLine(stream: NodeJS.WriteStream, line: string): void {
  stream.write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Arguments

function parseQuorum(text: string): Quorum {
  if (text === 'one' || text === 'quorum' || text === 'all' || text === 'default') return text;
  if (/^\d+$/.test(text) && Number(text) <= 0xffff) return Number(text);
  throw new InvalidArgumentError('must be a non-negative integer or one of one, quorum, all, default');
}

function parsePositiveInteger(text: string): number {
  const value = Number(text);
  if (/^\d+$/.test(text) && Number.isSafeInteger(value) && value > 0) return value;
  throw new InvalidArgumentError('must be a positive integer');
}

/** A context as a read printed it: base64url (the HTTP API's x-ringkv-context takes the same text). */
function parseContext(text: string): Context {
  if (/^[A-Za-z0-9_-]+={0,2}$/.test(text) && text.replace(/=+$/, '').length % 4 !== 1) return Buffer.from(text, 'base64url') as Context;
  throw new InvalidArgumentError('must be a context exactly as a read printed it (base64url)');
}

// ---------------------------------------------------------------------------------------------
// Talking to the node

/** What went wrong, as the command reports it: the node said no, or no node answered. */
interface Failure {
  readonly exitCode: number;
  readonly code: string;
  readonly message: string;
}

const pbPortHint = `--node takes HOST:PORT of a node's protocol-buffers port (default ${defaultPbNodeAddress})`;

/** Splits a server's "<code>: <message>"; Riak's bare strings (timeout, overload, ...) are the code. */
function nodeFailure(error: RingkvError, errmsg: string): Failure {
  const match = /^([a-z_]+): ([\s\S]*)$/.exec(errmsg);
  if (match !== null) return { exitCode: exitCodes.nodeError, code: match[1]!, message: match[2]! };
  if (/^[a-z_]+$/.test(errmsg)) return { exitCode: exitCodes.nodeError, code: errmsg, message: error.message };
  return { exitCode: exitCodes.nodeError, code: 'server_error', message: errmsg };
}

function failureOf(error: RingkvError, node: string, waitMs: number): Failure {
  if (error.errmsg !== undefined) return nodeFailure(error, error.errmsg);
  const unreachable = (code: string, message: string): Failure => ({ exitCode: exitCodes.unreachable, code, message });
  switch (error.code) {
    case 'unreachable': {
      const why = /\(([^()]+)\)$/.exec(error.message)?.[1] ?? error.message;
      return unreachable('unreachable', `cannot reach node ${node} (${why}); is a node running there? ${pbPortHint}`);
    }
    case 'timeout':
      return unreachable('timeout', `node ${node} gave no answer within ${waitMs} ms`);
    case 'protocol_error':
      return unreachable('protocol_error', `node ${node} did not answer as a protocol-buffers port does (${error.message}); is that its HTTP port? ${pbPortHint}`);
    case 'closed':
      return unreachable('closed', `node ${node}: ${error.message}`);
    case 'overload':
    case 'precondition_failed':
    case 'server_error':
      return { exitCode: exitCodes.nodeError, code: error.code, message: error.message };
  }
}

/**
 * Runs a command with a client connected to one node and sets the exit code. The client waits
 * clientMarginMs longer than the node may take, so the node's own timeout error arrives first.
 */
async function withClient(
  options: DataOptions,
  run: (client: RingkvClient) => Promise<number>,
  waitMs = (options.timeoutMs ?? defaultConfig.maxTimeoutMs) + clientMarginMs,
): Promise<void> {
  // Loaded here so that `start` and `--help` never load the client.
  const { connect, RingkvError: ClientError } = await import('../client/index.js');
  const client = await connect({ nodes: [options.node], poolSize: 1, timeoutMs: waitMs });
  try {
    process.exitCode = await run(client);
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    const failure = failureOf(error, options.node, waitMs);
    const said = failure.exitCode === exitCodes.nodeError ? `node ${options.node} answered with an error: ${failure.code}: ${failure.message}` : failure.message;
    writeLine(process.stderr, `ringkv: ${said}`);
    if (options.json === true) writeLine(process.stdout, JSON.stringify({ error: { code: failure.code, message: failure.message } }));
    process.exitCode = failure.exitCode;
  } finally {
    await client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Printing a read

interface SiblingOutput {
  readonly value: string | null;
  readonly value_base64: string;
  readonly content_type: string;
  readonly last_modified: string;
  readonly vtag: string;
  readonly user_meta: Readonly<Record<string, string>>;
}

/**
 * The --json output of a read. `siblings` lists every sibling (one for a plain value); `value`,
 * `value_base64` and `content_type` repeat the sole sibling's, and are null when there are
 * several. `value` is the text when the bytes are valid UTF-8, else null.
 */
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

function siblingOutput(sibling: Sibling): SiblingOutput {
  return {
    value: textOf(sibling.value),
    value_base64: sibling.value.toString('base64'),
    content_type: sibling.contentType,
    last_modified: new Date(sibling.lastModifiedMs).toISOString(),
    vtag: sibling.vtag,
    user_meta: Object.fromEntries(sibling.userMeta.map((entry) => [entry.key, entry.value])),
  };
}

function readOutput(siblings: readonly Sibling[], context: Context | undefined): ReadOutput {
  const outputs = siblings.map(siblingOutput);
  const sole = outputs.length === 1 ? outputs[0] : undefined;
  return {
    found: outputs.length > 0,
    value: sole?.value ?? null,
    value_base64: sole?.value_base64 ?? null,
    content_type: sole?.content_type ?? null,
    context: context === undefined ? null : context.toString('base64url'),
    siblings: outputs,
  };
}

/** Text safe to print on a terminal, or undefined for bytes that are not. */
function printableText(sibling: SiblingOutput): string | undefined {
  return sibling.value !== null && !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(sibling.value) ? sibling.value : undefined;
}

const binaryPlaceholder = (sibling: SiblingOutput): string =>
  `<${Buffer.from(sibling.value_base64, 'base64').length} bytes of binary; base64 ${sibling.value_base64}>`;

/**
 * One value goes to stdout as its raw bytes, so `ringkv get b k > file` copies it exactly; on a
 * terminal, binary is shown as a placeholder with its base64 instead. Siblings are listed, each
 * as text or as that placeholder.
 */
function printReadable(output: ReadOutput): void {
  const sole = output.siblings.length === 1 ? output.siblings[0] : undefined;
  if (sole !== undefined) {
    const bytes = Buffer.from(sole.value_base64, 'base64');
    if (process.stdout.isTTY !== true) {
      process.stdout.write(bytes);
      return;
    }
    const text = printableText(sole);
    writeLine(process.stdout, text === undefined ? binaryPlaceholder(sole) : text.replace(/\n$/, ''));
    return;
  }
  writeLine(process.stdout, `${output.siblings.length} siblings; resolve them by writing with --context ${output.context ?? ''}`);
  output.siblings.forEach((sibling, index) => {
    const details = [`vtag ${sibling.vtag}`, sibling.content_type === '' ? 'no content type' : sibling.content_type, `last modified ${sibling.last_modified}`];
    writeLine(process.stdout, `--- sibling ${index + 1} of ${output.siblings.length} (${details.join(', ')})`);
    const text = printableText(sibling);
    writeLine(process.stdout, text === undefined ? binaryPlaceholder(sibling) : text.replace(/\n$/, ''));
  });
}

function printRead(options: DataOptions, output: ReadOutput): void {
  if (options.json === true) writeLine(process.stdout, JSON.stringify(output));
  else printReadable(output);
}

// ---------------------------------------------------------------------------------------------
// The commands

/** The per-request options of get, put and delete, with the node's timeout. */
function requestOptions(options: KeyOptions): { type: string; nVal?: number; nodeTimeoutMs?: number } {
  return {
    type: options.type,
    ...(options.nVal === undefined ? {} : { nVal: options.nVal }),
    ...(options.timeoutMs === undefined ? {} : { nodeTimeoutMs: options.timeoutMs }),
  };
}

async function runGet(client: RingkvClient, bucket: string, key: string, options: KeyOptions): Promise<number> {
  const reply: GetReply = await client.get(bucket, key, { ...requestOptions(options), r: options.r, pr: options.pr });
  if (!reply.found) {
    if (options.json === true) writeLine(process.stdout, JSON.stringify(readOutput([], reply.context)));
    else writeLine(process.stderr, `ringkv: not found: type ${options.type}, bucket ${bucket}, key ${key}`);
    return exitCodes.notFound;
  }
  printRead(options, readOutput(reply.siblings, reply.context));
  return exitCodes.ok;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function runPut(client: RingkvClient, bucket: string, key: string, value: Buffer, options: KeyOptions): Promise<number> {
  const reply = await client.put(bucket, key, value, {
    ...requestOptions(options),
    w: options.w,
    dw: options.dw,
    pw: options.pw,
    context: options.context,
    contentType: options.contentType,
    returnBody: options.returnBody,
    overwrite: options.overwrite,
  });
  if (options.returnBody === true) printRead(options, readOutput(reply.siblings ?? [], reply.context));
  else if (options.json === true) writeLine(process.stdout, JSON.stringify({ ok: true, context: reply.context.toString('base64url') }));
  return exitCodes.ok;
}

async function runDelete(client: RingkvClient, bucket: string, key: string, options: KeyOptions): Promise<number> {
  await client.delete(bucket, key, { ...requestOptions(options), w: options.w, dw: options.dw, pw: options.pw, context: options.context });
  if (options.json === true) writeLine(process.stdout, JSON.stringify({ ok: true }));
  return exitCodes.ok;
}

async function runListKeys(client: RingkvClient, bucket: string, options: DataOptions): Promise<number> {
  const keys = await client.listKeys(bucket, { type: options.type, ...(options.timeoutMs === undefined ? {} : { nodeTimeoutMs: options.timeoutMs }) });
  if (options.json === true) writeLine(process.stdout, JSON.stringify(keys.map((key) => key.toString('utf8'))));
  else for (const key of keys) writeLine(process.stdout, key.toString('utf8'));
  return exitCodes.ok;
}

async function runBucketProps(client: RingkvClient, bucket: string, options: DataOptions): Promise<number> {
  const props = await client.bucketProps(bucket, { type: options.type });
  if (options.json === true) writeLine(process.stdout, JSON.stringify(props));
  else for (const [name, value] of Object.entries(props)) writeLine(process.stdout, `${name}: ${String(value)}`);
  return exitCodes.ok;
}

// ---------------------------------------------------------------------------------------------
// Declaring them

const quorumHelp = {
  r: 'replicas that must answer the read',
  pr: 'primary (not fallback) replicas that must answer the read',
  w: 'replicas that must acknowledge the write',
  dw: 'replicas that must make the write durable',
  pw: 'primary (not fallback) replicas that must acknowledge the write',
} as const;

function dataCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .addOption(
      new Option('--node <host:port>', "the node's protocol-buffers port (pbPort), not its HTTP port").argParser(parsePbNodeAddress).default(defaultPbNodeAddress),
    )
    .option('--type <type>', 'bucket type', 'default');
}

function keyCommand(program: Command, name: string, description: string, quorums: ReadonlyArray<keyof typeof quorumHelp>): Command {
  const command = dataCommand(program, name, description);
  for (const quorum of quorums) {
    command.option(`--${quorum} <quorum>`, `${quorumHelp[quorum]} (integer, one, quorum, all, or default; default from the bucket type)`, parseQuorum);
  }
  return command
    .option('--n-val <n>', 'replicas of the key (default from the bucket type)', parsePositiveInteger)
    .option('--timeout-ms <ms>', "how long the node may take (default: the node's defaultTimeoutMs); the command waits 5 s longer", parsePositiveInteger);
}

const readJsonHelp = 'print JSON: {found, value, value_base64, content_type, context, siblings: [{value, value_base64, content_type, last_modified, vtag, user_meta}]}';

/** get, put, delete, list-keys and bucket-props, on the node's protocol-buffers port. */
export function addDataCommands(program: Command): void {
  keyCommand(program, 'get', 'read a key; prints its value, or every sibling', ['r', 'pr'])
    .argument('<bucket>')
    .argument('<key>')
    .option('--json', readJsonHelp)
    .action(async (bucket: string, key: string, options: KeyOptions) => withClient(options, (client) => runGet(client, bucket, key, options)));

  keyCommand(program, 'put', 'write a value: the argument as UTF-8, else stdin as bytes', ['w', 'dw', 'pw'])
    .argument('<bucket>')
    .argument('<key>')
    .argument('[value]', 'the value; read from stdin when absent')
    .option('--content-type <type>', 'content type of the value', 'application/octet-stream')
    .option('--context <context>', 'causal context from an earlier read; without it the write is blind and may add a sibling', parseContext)
    .option('--overwrite', 'replace whatever the key holds (siblings included) without a context; not with --context')
    .option('--return-body', 'print the object after the write, as get does')
    .option('--json', 'print JSON: {ok, context}, or with --return-body what get --json prints')
    .action(async (bucket: string, key: string, value: string | undefined, options: KeyOptions) => {
      const bytes = value === undefined ? await readStdin() : Buffer.from(value, 'utf8');
      await withClient(options, (client) => runPut(client, bucket, key, bytes, options));
    });

  keyCommand(program, 'delete', 'delete a key (writes a tombstone, even for an absent key)', ['w', 'dw', 'pw'])
    .argument('<bucket>')
    .argument('<key>')
    .option('--context <context>', 'causal context from an earlier read; deletes exactly what that read saw', parseContext)
    .option('--json', 'print JSON: {ok}')
    .action(async (bucket: string, key: string, options: KeyOptions) => withClient(options, (client) => runDelete(client, bucket, key, options)));

  dataCommand(program, 'list-keys', 'list the live keys of a bucket (scans every partition: for administration)')
    .argument('<bucket>')
    .option('--timeout-ms <ms>', "how long the node may take (default: the node's defaultTimeoutMs); the command waits 5 s longer", parsePositiveInteger)
    .option('--json', 'print the keys as a JSON array of strings')
    .action(async (bucket: string, options: DataOptions) => withClient(options, (client) => runListKeys(client, bucket, options)));

  dataCommand(program, 'bucket-props', "show a bucket's properties")
    .argument('<bucket>')
    .option('--timeout-ms <ms>', `how long to wait for the answer (default ${bucketPropsWaitMs})`, parsePositiveInteger)
    .option('--json', 'print the properties as a JSON object')
    .action(async (bucket: string, options: DataOptions) =>
      withClient(options, (client) => runBucketProps(client, bucket, options), options.timeoutMs ?? bucketPropsWaitMs),
    );
}
