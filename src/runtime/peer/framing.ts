// Length-prefixed framing of the peer protocol: a 4-byte big-endian length, then that many bytes of
// protobuf. FrameReader cuts frames off a byte stream and refuses a too-long frame from its header,
// before buffering any of its body; buildFrames packs encoded messages into as few frames as the
// limit allows. Neither knows what the frames contain.

export const frameHeaderBytes = 4;
/** The largest length a 4-byte header can state; limits must stay below it. */
export const frameBytesCeiling = 0xffff_ffff;

/** A header announced more than the reader's limit; the stream cannot be trusted any further. */
export class FrameTooLargeError extends Error {
  readonly code = 'peer_frame_too_large' as const;
  constructor(
    readonly frameBytes: number,
    readonly limitBytes: number,
  ) {
    super(`frame of ${frameBytes} bytes announced, above the limit of ${limitBytes} bytes`);
    this.name = 'FrameTooLargeError';
  }
}

/**
 * Reassembles frames from socket chunks. Chunks are kept as they arrive and joined once a whole
 * frame is there, so a large frame in many chunks is copied once, not once per chunk.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;

  /** `limitBytes` may change between frames (the handshake allows less than live traffic). */
  constructor(public limitBytes: number) {}

  get buffered(): number {
    return this.bufferedBytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** The next whole frame's body, or undefined until more bytes arrive. Throws FrameTooLargeError. */
  next(): Buffer | undefined {
    if (this.bufferedBytes < frameHeaderBytes) return undefined;
    const length = this.peekLength();
    if (length > this.limitBytes) throw new FrameTooLargeError(length, this.limitBytes);
    const total = frameHeaderBytes + length;
    if (this.bufferedBytes < total) return undefined;
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bufferedBytes);
    const body = joined.subarray(frameHeaderBytes, total);
    const rest = joined.subarray(total);
    this.chunks = rest.length === 0 ? [] : [rest];
    this.bufferedBytes = rest.length;
    return body;
  }

  /** Drops everything buffered; nothing more is read from a connection being closed. */
  clear(): void {
    this.chunks = [];
    this.bufferedBytes = 0;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= frameHeaderBytes) return first.readUInt32BE(0);
    const head = Buffer.concat(this.chunks, this.bufferedBytes);
    this.chunks = [head];
    return head.readUInt32BE(0);
  }
}

/** One frame: header and body. */
export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderBytes + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, frameHeaderBytes);
  return out;
}

/**
 * Packs encoded messages (each a PeerFrame body of one message, see codec.ts) into frames of at
 * most `limitBytes` body bytes each, in order, and returns them as one buffer for a single write.
 * Every part must itself fit in `limitBytes`; the sender checks that when the message is queued.
 */
export function buildFrames(parts: readonly Uint8Array[], limitBytes: number): { bytes: Buffer; frames: number } {
  const pieces: Uint8Array[] = [];
  let frames = 0;
  let header: Buffer | undefined;
  let bodyBytes = 0;
  let total = 0;
  for (const part of parts) {
    if (part.length > limitBytes) throw new RangeError(`message of ${part.length} bytes exceeds the frame limit of ${limitBytes} bytes`);
    if (header === undefined || bodyBytes + part.length > limitBytes) {
      header = Buffer.allocUnsafe(frameHeaderBytes);
      header.writeUInt32BE(0, 0);
      pieces.push(header);
      frames++;
      bodyBytes = 0;
      total += frameHeaderBytes;
    }
    pieces.push(part);
    bodyBytes += part.length;
    total += part.length;
    header.writeUInt32BE(bodyBytes, 0);
  }
  return { bytes: Buffer.concat(pieces, total), frames };
}
