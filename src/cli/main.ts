#!/usr/bin/env node
// The `ringkv` command: `start` runs a node in the foreground; the data commands (data-commands.ts)
// talk to a node's protocol-buffers port through the TypeScript client, and administration
// (cluster-commands.ts) to its HTTP API. It parses arguments, prints, and picks exit codes;
// settings and their checks belong to runtime/config, and the node itself to runtime/node.

import { constants as osConstants } from 'node:os';
import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, describeConfig, flagName, loadConfig } from '../runtime/config.js';
import type { ConfigFlags, NodeConfig, ScalarField } from '../runtime/config.js';
import { createLogger } from '../runtime/log.js';
import type { Logger } from '../runtime/log.js';
import type { RunningNode } from '../runtime/node.js';
import { addBucketTypeCommands, addClusterCommands } from './cluster-commands.js';
import { addDataCommands } from './data-commands.js';
import { exitCodes, exitCodesHelp } from './exit-codes.js';
import { defaultNodeAddress, defaultPbNodeAddress } from './node-address.js';

const startFailedExitCode = 1;

// Output piped into a reader that stops early (`ringkv --help | head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

/** How long `start` waits beyond shutdownTimeoutMs for the node to report that it stopped. */
const stopMarginMs = 5000;

// ---------------------------------------------------------------------------------------------
// ringkv start

/** The settings `start` takes as flags, with the name of each flag's argument. */
const startFlags: ReadonlyArray<readonly [ScalarField, string]> = [
  ['dataDir', 'dir'],
  ['nodeName', 'name'],
  ['workers', 'n'],
  ['vnodeHost', 'where'],
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
// Commands

function buildProgram(): Command {
  const program = new Command('ringkv')
    .description('ringkv: a Dynamo-style distributed key-value store')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `\n--node HOST:PORT names the node to talk to. get, put, delete, list-keys and bucket-props use its\n` +
        `protocol-buffers port (default ${defaultPbNodeAddress}); cluster and bucket-type use its HTTP API\n` +
        `(default ${defaultNodeAddress}).\n\n` +
        `${exitCodesHelp}\n` +
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

  addDataCommands(program);
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
