// One request from the call to its settlement: the encoded frame, the decoder that reads its
// reply frames, and the promise it settles exactly once. It knows nothing about sockets; the
// connection feeds it frames and the pool arms its deadline.

import type { RingkvError } from './errors.js';

/** What a decoder says about one reply frame: more frames to come, or the request's answer. */
export type Decoded<T> = { readonly done: false } | { readonly done: true; readonly value: T };

/**
 * Reads one reply frame (never an RpbErrorResp: the connection handles those). Throws a
 * RingkvError with code `protocol_error` when the frame is not a reply to this request.
 */
export type ReplyDecoder<T> = (code: number, body: Buffer) => Decoded<T>;

export class Call<T = unknown> {
  private settled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly frame: Buffer,
    readonly decode: ReplyDecoder<T>,
    private readonly onResolve: (value: T) => void,
    private readonly onReject: (error: RingkvError) => void,
  ) {}

  get isSettled(): boolean {
    return this.settled;
  }

  /** Arms the deadline; `onExpired` decides what else the timeout breaks (a connection, say). */
  arm(timeoutMs: number, onExpired: (call: Call<T>) => void): void {
    this.timer = setTimeout(() => onExpired(this), timeoutMs);
  }

  resolve(value: T): void {
    if (this.finish()) this.onResolve(value);
  }

  reject(error: RingkvError): void {
    if (this.finish()) this.onReject(error);
  }

  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    return true;
  }
}
