// Starts the Redis-protocol (RESP2) front end: the RESP parser and command handler on the shared
// TCP machinery, which owns pipelining, reply order and the per-connection limits. It reads the
// clock, the OS and the bound port for INFO and passes them in; it decides nothing about data.

import { arch, release, type } from 'node:os';
import type { Logger } from 'pino';
import type { KvService } from '../../core/kv.js';
import { type TcpFrontEnd, type TcpFrontEndLimits, startTcpFrontEnd } from '../wire/tcp-front-end.js';
import { createRespHandler, defaultKeyOpsInFlightMax } from './commands.js';
import { defaultMaxArrayElements, defaultMaxLineBytes } from './parser.js';

/** Protocol limits beyond the frame size; the defaults are Redis's own. */
export interface RespProtocolLimits {
  readonly maxArrayElements: number;
  readonly maxLineBytes: number;
  /** Single-key operations one multi-key command (DEL, EXISTS, MGET, MSET) runs at once. */
  readonly keyOpsInFlightMax: number;
}

export const defaultRespProtocolLimits: RespProtocolLimits = {
  maxArrayElements: defaultMaxArrayElements,
  maxLineBytes: defaultMaxLineBytes,
  keyOpsInFlightMax: defaultKeyOpsInFlightMax,
};

export interface RespFrontEndOptions {
  readonly host: string;
  /** 0 picks a free port; whether to start the front end at all is the caller's decision. */
  readonly port: number;
  readonly limits: TcpFrontEndLimits;
  /** The largest request frame, headers and payloads together (the node's maxRequestBodyBytes). */
  readonly maxFrameBytes: number;
  readonly bucketType: string;
  readonly bucket: string;
  readonly log: Logger;
  readonly protocol?: Partial<RespProtocolLimits>;
}

export interface RespFrontEndDeps {
  readonly kv: KvService;
  readonly startedAtMs: number;
  readonly nodeName: string;
}

export async function startRespFrontEnd(options: RespFrontEndOptions, deps: RespFrontEndDeps): Promise<TcpFrontEnd> {
  const protocol = { ...defaultRespProtocolLimits, ...options.protocol };
  // INFO reports the port actually bound and the open connections, known once listening.
  let front: TcpFrontEnd | undefined;
  const handler = createRespHandler(
    {
      bucketType: options.bucketType,
      bucket: new TextEncoder().encode(options.bucket),
      parser: { maxFrameBytes: options.maxFrameBytes, maxArrayElements: protocol.maxArrayElements, maxLineBytes: protocol.maxLineBytes },
      keyOpsInFlightMax: protocol.keyOpsInFlightMax,
    },
    {
      kv: deps.kv,
      nowMs: () => Date.now(),
      server: {
        nodeName: deps.nodeName,
        startedAtMs: deps.startedAtMs,
        os: `${type()} ${release()} ${arch()}`,
        processId: process.pid,
        tcpPort: () => (front === undefined ? options.port : Number(front.address.slice(front.address.lastIndexOf(':') + 1))),
        connectedClients: () => front?.connections ?? 0,
      },
    },
  );
  front = await startTcpFrontEnd({ host: options.host, port: options.port, limits: options.limits, log: options.log }, handler);
  return front;
}
