// The HTTP JSON front end: a node:http server that routes each request to its handler and owns
// the connection limits, timeouts and graceful close. It is a thin translator over KvService and
// holds no quorum, versioning or storage logic. The request path avoids per-request closures
// beyond what the handlers need, because GET throughput is benchmarked against bare node:http.

import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { type Result, assert, assertNever } from '../../core/errors.js';
import type { BucketTypes } from '../bucket-types.js';
import type { ClusterAdmin } from '../cluster/cluster-node.js';
import { readBody } from './body.js';
import { prometheusText } from './metrics.js';
import type { KvService } from '../../core/kv.js';
import { sendError } from './errors.js';
import { type KeyHandlerDeps, handleDelete, handleGet, handlePost, handlePut } from './key-handlers.js';
import { handleDatatypeFetch, handleDatatypeUpdate } from './datatype-handlers.js';
import { noOptions } from './query.js';
import { type ClusterChangeAction, type ClusterReadAction, allowedMethods, matchRoute } from './routes.js';

export interface HttpFrontEndOptions {
  readonly host: string;
  /** 0 picks a free port; whether to start the front end at all is the caller's decision. */
  readonly port: number;
  /** Larger bodies are answered 413 value_too_large: from Content-Length before reading, or once the stream passes it. */
  readonly maxRequestBodyBytes: number;
  /** Connections beyond this are dropped on accept (Node's server.maxConnections). */
  readonly maxConnections: number;
  /** An idle keep-alive connection is closed after this. */
  readonly idleTimeoutMs: number;
  /** Time allowed to receive a request's headers; Node answers 408 past it. */
  readonly headersTimeoutMs: number;
  /** Time allowed to receive a whole request; Node answers 408 past it. */
  readonly requestTimeoutMs: number;
}

export interface HttpFrontEndDeps {
  readonly kv: KvService;
  /** The JSON document of GET /v1/stats. */
  readonly stats: () => Promise<unknown>;
  /** Membership administration under /v1/cluster/. */
  readonly cluster?: ClusterAdmin;
  /** Bucket types at run time under /v1/types. */
  readonly bucketTypes?: BucketTypes;
  /** The key of a POST; the composition root passes a random url-safe id. */
  readonly generateKey: () => string;
  readonly log: Logger;
}

export interface HttpFrontEnd {
  /** Like http://127.0.0.1:8098, with the port actually bound. */
  readonly url: string;
  /**
   * Stops listening, ends idle connections at once and the others as their last response
   * finishes; connections still open requestTimeoutMs after the call are cut.
   */
  close(): Promise<void>;
}

/** Node checks headers and request timeouts on an interval; this keeps them within a quarter of their value. */
const connectionsCheckingIntervalMsMax = 30_000;
const connectionsCheckingIntervalMsMin = 100;
const pingBody = Buffer.from('{"ok":true}');
const inflightRequests = Symbol('ringkv.inflightRequests');

interface TrackedSocket extends Socket {
  [inflightRequests]?: number;
}

interface FrontEndState {
  readonly handlerDeps: KeyHandlerDeps;
  readonly deps: HttpFrontEndDeps;
  closing: boolean;
  /** One listener for every response (no closure per request). */
  readonly onResponseClose: (this: ServerResponse) => void;
}

function checkOptions(options: HttpFrontEndOptions): void {
  const positive = ['maxRequestBodyBytes', 'maxConnections', 'idleTimeoutMs', 'headersTimeoutMs', 'requestTimeoutMs'] as const;
  for (const name of positive) assert(Number.isSafeInteger(options[name]) && options[name] > 0, `${name} must be a positive integer, got ${options[name]}`);
  assert(Number.isInteger(options.port) && options.port >= 0 && options.port <= 65535, `port must be 0..65535, got ${options.port}`);
  // Node refuses a headers timeout longer than the request timeout.
  assert(options.headersTimeoutMs <= options.requestTimeoutMs, 'headersTimeoutMs must be at most requestTimeoutMs');
}

function sendJson(res: ServerResponse, status: number, document: unknown): void {
  const body = JSON.stringify(document);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function handleClusterRead(cluster: ClusterAdmin, action: ClusterReadAction, res: ServerResponse): Promise<void> {
  switch (action) {
    case 'status':
      return sendJson(res, 200, await cluster.status());
    case 'ring':
      return sendJson(res, 200, cluster.ring());
    case 'plan':
      return sendJson(res, 200, cluster.plan());
    default:
      return assertNever(action);
  }
}

/**
 * Reads a small JSON object body (an empty body is `{}` when `emptyIsObject`); on anything else
 * answers the error itself and returns undefined.
 */
async function readJsonObject(req: IncomingMessage, res: ServerResponse, emptyIsObject: boolean): Promise<Record<string, unknown> | undefined> {
  const body = await readBody(req, clusterBodyBytesMax);
  if (body.kind !== 'complete') {
    sendError(res, 'invalid_request', `the request body must be a JSON object of at most ${clusterBodyBytesMax} bytes`);
    return undefined;
  }
  if (body.bytes.length === 0 && emptyIsObject) return {};
  try {
    const parsed: unknown = JSON.parse(Buffer.from(body.bytes).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    sendError(res, 'malformed_json', `the request body is not a JSON object: ${(error as Error).message}`);
    return undefined;
  }
}

/** Cluster changes take a small JSON body: {"seed": "host:port"} for join, {"node": name} for leave. */
const clusterBodyBytesMax = 16 * 1024;

async function handleClusterChange(cluster: ClusterAdmin, action: ClusterChangeAction, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const document = await readJsonObject(req, res, true);
  if (document === undefined) return;
  let result: Result<unknown>;
  switch (action) {
    case 'join':
      if (typeof document['seed'] !== 'string') return sendError(res, 'invalid_request', 'join needs {"seed": "host:port"}, the peer address of a cluster member');
      result = await cluster.join(document['seed']);
      break;
    case 'leave':
      if (document['node'] !== undefined && typeof document['node'] !== 'string') return sendError(res, 'invalid_request', '"node" must be a node name');
      result = cluster.leave(document['node'] as string | undefined);
      break;
    case 'commit':
      result = await cluster.commit();
      break;
    case 'clear':
      result = { ok: true, value: cluster.clear() };
      break;
    default:
      return assertNever(action);
  }
  if (!result.ok) return sendError(res, result.error.code, result.error.message);
  return sendJson(res, 200, result.value);
}

/** PUT /v1/types/{type}: body {"props": {...}} creates the type or changes the given properties. */
async function handlePutBucketType(types: BucketTypes, name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const document = await readJsonObject(req, res, false);
  if (document === undefined) return;
  const props = document['props'];
  if (props === undefined) return sendError(res, 'invalid_request', 'the body must be {"props": {...}} with the properties to set');
  const changed = await types.change(name, props, 'put');
  return changed.ok ? sendJson(res, 200, changed.value) : sendError(res, changed.error.code, changed.error.message);
}

async function sendMetrics(state: FrontEndState, res: ServerResponse): Promise<void> {
  const body = prometheusText(await state.deps.stats());
  res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function sendStats(state: FrontEndState, res: ServerResponse): Promise<void> {
  const body = JSON.stringify(await state.deps.stats());
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Routes one request; a returned promise settles when the answer is written. */
function dispatch(state: FrontEndState, req: IncomingMessage, res: ServerResponse): Promise<void> | void {
  const url = req.url ?? '/';
  const method = req.method ?? 'GET';
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  const search = queryAt < 0 ? '' : url.slice(queryAt + 1);
  const matched = matchRoute(path);
  if (!matched.ok) return sendError(res, matched.error.code, matched.error.message);
  const route = matched.value;
  if (route.kind === 'none') return sendError(res, 'not_found', `no route for ${method} ${path}`);
  const allowed = allowedMethods[route.kind];
  if (!allowed.includes(method)) {
    return sendError(res, 'method_not_allowed', `${method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, { Allow: allowed.join(', ') });
  }
  if (route.kind !== 'key' && route.kind !== 'keys' && route.kind !== 'datatype') {
    // Every other route takes no query parameters.
    const options = noOptions(search, method);
    if (!options.ok) return sendError(res, options.error.code, options.error.message);
  }
  switch (route.kind) {
    case 'key':
      if (method === 'PUT') return handlePut(state.handlerDeps, route.key, search, req, res);
      if (method === 'DELETE') return handleDelete(state.handlerDeps, route.key, search, req, res);
      return handleGet(state.handlerDeps, route.key, search, req, res);
    case 'keys':
      return handlePost(state.handlerDeps, route, search, req, res);
    case 'datatype':
      return method === 'POST' ? handleDatatypeUpdate(state.handlerDeps, route.key, search, req, res) : handleDatatypeFetch(state.handlerDeps, route.key, search, req, res);
    case 'ping': {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': pingBody.length });
      res.end(pingBody);
      return;
    }
    case 'stats': {
      return sendStats(state, res);
    }
    case 'bucketTypes':
    case 'bucketType': {
      const types = state.deps.bucketTypes;
      if (types === undefined) return sendError(res, 'not_found', 'bucket type administration is not available on this listener');
      if (route.kind === 'bucketTypes') return sendJson(res, 200, { types: types.list() });
      if (method === 'GET') {
        const shown = types.show(route.type);
        return shown.ok ? sendJson(res, 200, shown.value) : sendError(res, shown.error.code, shown.error.message);
      }
      return handlePutBucketType(types, route.type, req, res);
    }
    case 'metrics': {
      return sendMetrics(state, res);
    }
    case 'clusterRead':
    case 'clusterChange': {
      if (state.deps.cluster === undefined) return sendError(res, 'not_found', 'cluster administration is not available on this listener');
      return route.kind === 'clusterRead' ? handleClusterRead(state.deps.cluster, route.action, res) : handleClusterChange(state.deps.cluster, route.action, req, res);
    }
    default:
      return assertNever(route);
  }
}

/** Counts a connection's unanswered requests, so close() can end each one once it has none. */
function trackRequest(state: FrontEndState, req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket as TrackedSocket;
  socket[inflightRequests] = (socket[inflightRequests] ?? 0) + 1;
  res.once('close', state.onResponseClose);
  if (state.closing) res.setHeader('Connection', 'close');
}

function onRequest(state: FrontEndState, req: IncomingMessage, res: ServerResponse): void {
  trackRequest(state, req, res);
  let pending: Promise<void> | void;
  try {
    pending = dispatch(state, req, res);
  } catch (error) {
    onHandlerError(state, req, res, error);
    return;
  }
  if (pending !== undefined) pending.catch((error: unknown) => onHandlerError(state, req, res, error));
}

/** A handler threw: a bug here or in KvService. Answer 500 and keep serving. */
function onHandlerError(state: FrontEndState, req: IncomingMessage, res: ServerResponse, error: unknown): void {
  state.deps.log.error({ err: error, method: req.method, url: req.url }, 'HTTP request failed');
  sendError(res, 'internal_error', 'the request failed inside the node; see its log');
}

export async function startHttpFrontEnd(options: HttpFrontEndOptions, deps: HttpFrontEndDeps): Promise<HttpFrontEnd> {
  checkOptions(options);
  const state: FrontEndState = {
    deps,
    handlerDeps: { kv: deps.kv, generateKey: deps.generateKey, maxRequestBodyBytes: options.maxRequestBodyBytes },
    closing: false,
    onResponseClose(this: ServerResponse): void {
      const socket = this.req.socket as TrackedSocket;
      const left = (socket[inflightRequests] ?? 1) - 1;
      socket[inflightRequests] = left;
      // While closing, a connection ends as soon as it has no request left to answer.
      if (left === 0 && state.closing) socket.end();
    },
  };
  const checkingIntervalMs = Math.min(
    connectionsCheckingIntervalMsMax,
    Math.max(connectionsCheckingIntervalMsMin, Math.floor(Math.min(options.headersTimeoutMs, options.requestTimeoutMs) / 4)),
  );
  const server = createServer({
    keepAliveTimeout: options.idleTimeoutMs,
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs,
  });
  server.maxConnections = options.maxConnections;
  const sockets = new Set<TrackedSocket>();
  server.on('connection', (socket: TrackedSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('drop', (data?: { remoteAddress?: string }) => {
    deps.log.debug({ remoteAddress: data?.remoteAddress, maxConnections: options.maxConnections }, 'HTTP connection dropped: too many connections');
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => onRequest(state, req, res));
  // With a listener here Node no longer sends 100 Continue itself; the write handler does once
  // the headers pass its checks, so an oversized upload is refused before it is sent.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => onRequest(state, req, res));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => deps.log.error({ err }, 'HTTP server error'));
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  deps.log.info({ url, maxConnections: options.maxConnections }, 'HTTP API listening');

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve, reject) => {
      state.closing = true;
      // Node stops enforcing headers and request timeouts once the server closes, so a client
      // still sending after requestTimeoutMs (which Node would have cut) is cut here instead.
      const backstop = setTimeout(() => {
        deps.log.warn({ connections: sockets.size, requestTimeoutMs: options.requestTimeoutMs }, 'HTTP close: cutting connections still open');
        server.closeAllConnections();
      }, options.requestTimeoutMs);
      backstop.unref();
      server.close((err) => {
        clearTimeout(backstop);
        if (err === undefined) resolve();
        else reject(err);
      });
      for (const socket of sockets) if ((socket[inflightRequests] ?? 0) === 0) socket.destroy();
    });
    return closed;
  };
  return { url, close };
}
