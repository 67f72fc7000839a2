// Creates the node's pino loggers: human-readable (pino-pretty) on a terminal, JSON lines
// otherwise, with RINGKV_LOG_FORMAT=json|pretty to force either. It holds no logger of its own;
// the composition root (the CLI, or a worker's entry point) creates one and passes it down.

import { isMainThread } from 'node:worker_threads';
import { pino } from 'pino';
import type { DestinationStream, LevelWithSilentOrString, Logger } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError } from './config.js';

export type { Logger } from 'pino';
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** A pino level or 'silent'; NodeConfig.logLevel is already checked. */
  readonly level: LevelWithSilentOrString;
  /** Appears as `name` on every line: the node name, or node/worker-N. */
  readonly name: string;
  /** Where lines go; stdout when absent. */
  readonly destination?: DestinationStream;
  /** Forces a format; otherwise RINGKV_LOG_FORMAT decides, then whether stdout is a terminal. */
  readonly format?: LogFormat;
}

/**
 * The format to use: RINGKV_LOG_FORMAT when set, else pretty when stdout is a terminal. A worker
 * thread's stdout is never a terminal, so the main thread should pass its choice to workers.
 */
export function chooseLogFormat(env: NodeJS.ProcessEnv, stdoutIsTty: boolean): LogFormat {
  const forced = env['RINGKV_LOG_FORMAT'];
  if (forced === 'json' || forced === 'pretty') return forced;
  if (forced !== undefined && forced !== '') {
    throw new ConfigError([`RINGKV_LOG_FORMAT: must be one of json, pretty, got ${JSON.stringify(forced)}`]);
  }
  return stdoutIsTty ? 'pretty' : 'json';
}

export function createLogger(options: LoggerOptions): Logger {
  const stdoutIsTty = isMainThread && process.stdout.isTTY === true;
  const format = options.format ?? chooseLogFormat(process.env, stdoutIsTty);
  const pinoOptions = { level: options.level, name: options.name };
  // Synchronous writes keep log lines in order with the CLI's own output and keep the last lines
  // before a crash; the node logs events, not requests, so their cost does not matter.
  if (format === 'json') return pino(pinoOptions, options.destination ?? pino.destination({ dest: 1, sync: true }));
  const stream = pretty({
    colorize: stdoutIsTty && options.destination === undefined,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    sync: true,
    ...(options.destination === undefined ? {} : { destination: options.destination }),
  });
  return pino(pinoOptions, stream);
}
