// Reads a request body under a byte limit into one exact-size buffer. It reports an over-limit
// body or a client that went away as outcomes, so the caller never hands KvService a partial
// value. It does not answer the request; the caller decides what each outcome means.

import type { IncomingMessage } from 'node:http';

export type BodyOutcome =
  | { readonly kind: 'complete'; readonly bytes: Uint8Array }
  | { readonly kind: 'too_large' }
  | { readonly kind: 'aborted' };

const tooLarge: BodyOutcome = { kind: 'too_large' };
const aborted: BodyOutcome = { kind: 'aborted' };

function ignoreError(): void {
  // A reset connection is an `aborted` outcome, already reported through 'close'.
}

/** True when the declared Content-Length alone exceeds the limit: reject before reading a byte. */
export function declaredLengthOver(req: IncomingMessage, limitBytes: number): boolean {
  const declared = req.headers['content-length'];
  return declared !== undefined && Number(declared) > limitBytes;
}

/**
 * The whole body, copied into a buffer of exactly its size: the socket's chunks are views into
 * larger slabs, and a value kept (or sent to a worker) must not pin or clone those.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<BodyOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    const finish = (outcome: BodyOutcome): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      receivedBytes += chunk.length;
      if (receivedBytes > limitBytes) {
        chunks.length = 0;
        // The stream keeps flowing with no 'data' listener: the rest is read and dropped.
        finish(tooLarge);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      const bytes = new Uint8Array(receivedBytes);
      let offset = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, offset);
        offset += chunk.length;
      }
      finish({ kind: 'complete', bytes });
    };
    const onClose = (): void => finish(aborted);
    req.on('error', ignoreError);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}
