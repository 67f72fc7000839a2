// One recorded key operation over ringkv's HTTP API: the request for a read, write or delete in
// strict or sloppy mode, and the classification of its answer into ok | failed | unknown, with
// what it read or produced. A timeout or a broken connection is unknown, never failed: the
// request may have been applied. Only a refused connection (nothing was sent) and answers that
// say nothing was written are failures.

import { decodeContext, encodeContext } from '../../../src/core/codec.js';
import type { Dot, VersionVector } from '../../../src/core/version-vector.js';
import type { DeleteOp, History, Mode, ReadOp, SeenSibling, WriteOp } from './history.js';

export const bucket = 'fault';
const contextHeader = 'x-ringkv-context';

/** Server-side deadline of a client operation; the client gives up a little later. */
export const operationTimeoutMs = 3000;
const clientTimeoutMs = operationTimeoutMs + 3000;

const readQuery: Record<Mode, string> = {
  strict: 'r=quorum&pr=quorum&sloppy_quorum=false',
  sloppy: 'r=quorum',
};
const writeQuery: Record<Mode, string> = {
  strict: 'w=quorum&pw=quorum&sloppy_quorum=false',
  sloppy: 'w=quorum',
};

export interface Target {
  readonly name: string;
  readonly url: string;
}

/** Reads a sibling's dot back out of its vtag (`actor.counter-in-base-36`). */
export function dotOfVtag(vtag: string): Dot {
  const at = vtag.lastIndexOf('.');
  return { actor: vtag.slice(0, at), counter: parseInt(vtag.slice(at + 1), 36) };
}

export function contextOf(header: string | null): VersionVector {
  return header === null ? [] : decodeContext(new Uint8Array(Buffer.from(header, 'base64url')));
}

/** The header form of a context, for sending back; null for the empty context of a key never written. */
export function contextHeaderOf(context: VersionVector | undefined): string | null {
  return context === undefined || context.length === 0 ? null : Buffer.from(encodeContext(context)).toString('base64url');
}

function keyUrl(target: Target, key: string, query: string): string {
  return `${target.url}/v1/buckets/${bucket}/keys/${encodeURIComponent(key)}?${query}&timeout_ms=${operationTimeoutMs}`;
}

/** The siblings of a 200 (one value, vtag in the ETag) or a 300 (JSON list) answer. */
async function siblingsOf(response: Response): Promise<SeenSibling[]> {
  if (response.status === 200) {
    const etag = response.headers.get('etag') ?? '';
    return [{ value: await response.text(), dot: dotOfVtag(etag.replace(/"/g, '')) }];
  }
  const body = (await response.json()) as { siblings: { value_base64: string; vtag: string }[] };
  return body.siblings.map((s) => ({ value: Buffer.from(s.value_base64, 'base64').toString('utf8'), dot: dotOfVtag(s.vtag) }));
}

/** A thrown fetch: refused means nothing was sent; anything else may have reached the node. */
function thrownOutcome(error: unknown): { outcome: 'failed' | 'unknown'; error: string } {
  const cause = (error as { cause?: { code?: string } }).cause;
  const code = cause?.code ?? (error as Error).name;
  return { outcome: code === 'ECONNREFUSED' ? 'failed' : 'unknown', error: `${code}: ${(error as Error).message}` };
}

/** Whether a refused write certainly wrote nothing. */
function writeFailureIsDefinite(status: number, body: string): boolean {
  if (status >= 400 && status < 500) return true;
  return status === 503 && body.includes('nothing was written');
}

export async function readKey(history: History, client: number, target: Target, key: string, mode: Mode, final = false, query?: string): Promise<ReadOp> {
  const op = history.invokeRead({ client, node: target.name, key, mode, invokeMs: performance.now(), final });
  try {
    const response = await fetch(keyUrl(target, key, query ?? readQuery[mode]), { signal: AbortSignal.timeout(clientTimeoutMs) });
    if (response.status === 200 || response.status === 300) {
      op.siblings = await siblingsOf(response);
      op.context = contextOf(response.headers.get(contextHeader));
      op.outcome = 'ok';
    } else if (response.status === 404) {
      await response.body?.cancel();
      op.siblings = [];
      op.context = contextOf(response.headers.get(contextHeader));
      op.outcome = 'ok';
    } else {
      op.error = `${response.status} ${await response.text()}`;
      op.outcome = response.status === 504 ? 'unknown' : 'failed';
    }
  } catch (error) {
    Object.assign(op, thrownOutcome(error));
  }
  op.completeMs = performance.now();
  return op;
}

export async function writeKey(history: History, client: number, target: Target, key: string, value: string, context: string | null, mode: Mode): Promise<WriteOp> {
  const op = history.invokeWrite({ client, node: target.name, key, mode, invokeMs: performance.now(), value, context: contextOf(context) });
  try {
    const response = await fetch(keyUrl(target, key, `${writeQuery[mode]}&return_body=true`), {
      method: 'PUT',
      body: value,
      headers: { 'content-type': 'text/plain', ...(context === null ? {} : { [contextHeader]: context }) },
      signal: AbortSignal.timeout(clientTimeoutMs),
    });
    if (response.status === 200 || response.status === 300) {
      op.siblings = await siblingsOf(response);
      op.resultContext = contextOf(response.headers.get(contextHeader));
      op.dot = op.siblings.find((s) => s.value === value)?.dot;
      op.outcome = 'ok';
    } else {
      const body = await response.text();
      op.error = `${response.status} ${body}`;
      op.outcome = writeFailureIsDefinite(response.status, body) ? 'failed' : 'unknown';
    }
  } catch (error) {
    Object.assign(op, thrownOutcome(error));
  }
  op.completeMs = performance.now();
  return op;
}

export async function deleteKey(history: History, client: number, target: Target, key: string, context: string, mode: Mode): Promise<DeleteOp> {
  const op = history.invokeDelete({ client, node: target.name, key, mode, invokeMs: performance.now(), context: contextOf(context) });
  try {
    const response = await fetch(keyUrl(target, key, writeQuery[mode]), { method: 'DELETE', headers: { [contextHeader]: context }, signal: AbortSignal.timeout(clientTimeoutMs) });
    const body = await response.text();
    if (response.status === 204) {
      op.resultContext = contextOf(response.headers.get(contextHeader));
      op.outcome = 'ok';
    } else {
      op.error = `${response.status} ${body}`;
      op.outcome = writeFailureIsDefinite(response.status, body) ? 'failed' : 'unknown';
    }
  } catch (error) {
    Object.assign(op, thrownOutcome(error));
  }
  op.completeMs = performance.now();
  return op;
}
