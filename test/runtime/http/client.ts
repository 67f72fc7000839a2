// Small HTTP helpers for tests of the HTTP API against any base URL: key and bucket URLs,
// reading contexts and error bodies, and raw-socket exchanges for what fetch cannot do (partial
// requests, dropped connections). They hold no state; the node under test may be real or a double.

import { connect, type Socket } from 'node:net';

export const contextHeader = 'x-ringkv-context';

export interface KeyAddress {
  readonly bucket: string;
  readonly key: string;
  /** Absent: the untyped route (bucket type `default`). */
  readonly type?: string;
}

export type Query = Readonly<Record<string, string>>;

function withQuery(path: string, query: Query | undefined): string {
  const search = new URLSearchParams(query ?? {}).toString();
  return search === '' ? path : `${path}?${search}`;
}

export function bucketPath(bucket: string, type?: string): string {
  const typed = type === undefined ? '' : `/types/${encodeURIComponent(type)}`;
  return `/v1${typed}/buckets/${encodeURIComponent(bucket)}/keys`;
}

export function keyUrl(base: string, address: KeyAddress, query?: Query): string {
  return base + withQuery(`${bucketPath(address.bucket, address.type)}/${encodeURIComponent(address.key)}`, query);
}

export function bucketUrl(base: string, bucket: string, type?: string, query?: Query): string {
  return base + withQuery(bucketPath(bucket, type), query);
}

export interface PutInit {
  readonly query?: Query;
  readonly headers?: Readonly<Record<string, string>>;
  readonly contentType?: string;
}

export function put(base: string, address: KeyAddress, value: string | Uint8Array, init: PutInit = {}): Promise<Response> {
  return fetch(keyUrl(base, address, init.query), {
    method: 'PUT',
    body: value,
    headers: { 'content-type': init.contentType ?? 'text/plain', ...init.headers },
  });
}

export function get(base: string, address: KeyAddress, query?: Query, headers?: Readonly<Record<string, string>>): Promise<Response> {
  return fetch(keyUrl(base, address, query), headers === undefined ? {} : { headers });
}

export function del(base: string, address: KeyAddress, context?: string | null, query?: Query): Promise<Response> {
  return fetch(keyUrl(base, address, query), { method: 'DELETE', headers: context == null ? {} : { [contextHeader]: context } });
}

export interface ErrorBody {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** The status and `{"error":{code,message}}` of an error answer (code `?` when the body is not one). */
export async function errorOf(response: Response): Promise<ErrorBody> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    return { status: response.status, code: String(body.error?.code), message: String(body.error?.message) };
  } catch {
    return { status: response.status, code: '?', message: text };
  }
}

export interface SiblingsBody {
  readonly context: string;
  readonly siblings: ReadonlyArray<{
    readonly value_base64: string;
    readonly content_type: string;
    readonly last_modified: string;
    readonly vtag: string;
    readonly user_meta: Readonly<Record<string, string>>;
  }>;
}

export async function siblingsOf(response: Response): Promise<SiblingsBody> {
  return (await response.json()) as SiblingsBody;
}

export function siblingValues(body: SiblingsBody): string[] {
  return body.siblings.map((s) => Buffer.from(s.value_base64, 'base64').toString('utf8')).sort();
}

function hostAndPort(base: string): { host: string; port: number } {
  const url = new URL(base);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
}

/** An open TCP connection to the server of `base`. */
export function openSocket(base: string): Promise<Socket> {
  const { host, port } = hostAndPort(base);
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Everything the server sends on `socket` until it closes it (or `waitMs` passes). */
export function readUntilClosed(socket: Socket, waitMs = 5000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(() => done(false), waitMs);
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      resolve({ text, closed });
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('close', () => done(true));
    socket.on('error', () => {
      // A reset is a close for these tests; 'close' follows.
    });
  });
}

/** Sends raw request text on a fresh connection and reads until the server closes it. */
export async function rawExchange(base: string, request: string, waitMs = 5000): Promise<{ text: string; closed: boolean }> {
  const socket = await openSocket(base);
  const reading = readUntilClosed(socket, waitMs);
  socket.write(request);
  const result = await reading;
  socket.destroy();
  return result;
}

/** The status code of the first response in raw response text, or 0 when there is none. */
export function statusOf(rawResponse: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(rawResponse);
  return match === null ? 0 : Number(match[1]);
}
