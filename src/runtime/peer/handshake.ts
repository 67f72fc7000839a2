// The steps of the peer handshake as values, their encoding, and the proofs that authenticate
// them. A proof is an HMAC-SHA256, keyed by the cluster secret, over a transcript naming the
// protocol version, the cluster, both nodes and both nonces, and which side is proving: the
// secret never travels, a proof cannot be replayed on another connection (fresh nonces), and one
// side's proof cannot be reflected back as the other's. The order of the steps and what each side
// checks live in connection.ts; docs/peer-protocol.md explains the whole exchange.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { PeerCodecError } from './codec.js';
import { frame } from './framing.js';
import { type HandshakeArm, handshakeArms, handshakeType, toObjectOptions } from './schema.js';

/** Bytes of each side's random nonce. */
export const nonceBytes = 32;
/** Bytes of an HMAC-SHA256. */
export const proofBytes = 32;
/** Node and cluster names are at most this many UTF-8 bytes. */
export const nameBytesMax = 255;
/** Reject reasons are cut to this many characters. */
export const reasonCharsMax = 512;
/**
 * The largest handshake frame accepted. Before a peer has proven it knows the secret, it may not
 * make this node buffer more than this; the largest legitimate step is well under half of it.
 */
export const handshakeFrameBytesMax = 4096;

/**
 * Why a connection was refused. `duplicate` is the harmless one: both nodes dialled each other at
 * once and this connection is the one that gives way (see connection.ts); the dialer then waits
 * for the other connection instead of treating the refusal as a failure.
 */
export type RejectCode = 'refused' | 'duplicate';

export type HandshakeStep =
  | { readonly step: 'hello'; readonly protocolVersion: number; readonly clusterName: string; readonly nodeName: string; readonly nonce: Uint8Array }
  | {
      readonly step: 'challenge';
      readonly protocolVersion: number;
      readonly clusterName: string;
      readonly nodeName: string;
      readonly nonce: Uint8Array;
      readonly proof: Uint8Array;
    }
  | { readonly step: 'proof'; readonly proof: Uint8Array }
  | { readonly step: 'accept' }
  | { readonly step: 'reject'; readonly reason: string; readonly code: RejectCode };

/** Everything both proofs cover. */
export interface Transcript {
  readonly protocolVersion: number;
  readonly clusterName: string;
  readonly dialerName: string;
  readonly acceptorName: string;
  readonly dialerNonce: Uint8Array;
  readonly acceptorNonce: Uint8Array;
}

export type ProvingSide = 'dialer' | 'acceptor';

/** A name's problem, or undefined when it is a usable node or cluster name. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > nameBytesMax) return `is longer than ${nameBytesMax} bytes`;
  return undefined;
}

/**
 * HMAC-SHA256 keyed by the secret over a length-prefixed transcript. Length prefixes keep the
 * encoding unambiguous ("ab" + "c" never collides with "a" + "bc").
 */
export function handshakeProof(secret: Uint8Array, side: ProvingSide, transcript: Transcript): Buffer {
  const hmac = createHmac('sha256', secret);
  const part = (bytes: Uint8Array): void => {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(bytes.length, 0);
    hmac.update(length);
    hmac.update(bytes);
  };
  part(Buffer.from('ringkv peer handshake'));
  part(Buffer.from(side));
  part(Buffer.from(String(transcript.protocolVersion)));
  part(Buffer.from(transcript.clusterName));
  part(Buffer.from(transcript.dialerName));
  part(Buffer.from(transcript.acceptorName));
  part(transcript.dialerNonce);
  part(transcript.acceptorNonce);
  return hmac.digest();
}

/** Compares in constant time, so the time taken tells an attacker nothing about the proof. */
export function proofMatches(expected: Uint8Array, received: Uint8Array): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

/** A handshake step as a whole frame, header included. */
export function encodeHandshake(step: HandshakeStep): Buffer {
  const { step: arm, ...fields } = step;
  return frame(handshakeType.encode({ [arm]: fields }).finish());
}

/** Decodes and checks one handshake frame body; throws a PeerCodecError naming the problem. */
export function decodeHandshake(body: Uint8Array): HandshakeStep {
  let decoded: Record<string, unknown>;
  try {
    decoded = handshakeType.toObject(handshakeType.decode(body), toObjectOptions);
  } catch (error) {
    throw new PeerCodecError(`undecodable handshake frame (${body.length} bytes): ${(error as Error).message}`);
  }
  const present = handshakeArms.filter((arm) => decoded[arm] !== undefined && decoded[arm] !== null);
  if (present.length !== 1) throw new PeerCodecError(`handshake frame must hold exactly one step, found ${present.length}`);
  const arm: HandshakeArm = present[0]!;
  const fields = new StepFields(decoded[arm] as Record<string, unknown>, arm);
  switch (arm) {
    case 'hello':
      return { step: 'hello', protocolVersion: fields.uint('protocolVersion'), clusterName: fields.name('clusterName'), nodeName: fields.name('nodeName'), nonce: fields.bytes('nonce', nonceBytes) };
    case 'challenge':
      return {
        step: 'challenge',
        protocolVersion: fields.uint('protocolVersion'),
        clusterName: fields.name('clusterName'),
        nodeName: fields.name('nodeName'),
        nonce: fields.bytes('nonce', nonceBytes),
        proof: fields.bytes('proof', proofBytes),
      };
    case 'proof':
      return { step: 'proof', proof: fields.bytes('proof', proofBytes) };
    case 'accept':
      return { step: 'accept' };
    case 'reject': {
      const code = fields.optionalString('code');
      return { step: 'reject', reason: (fields.optionalString('reason') ?? 'no reason given').slice(0, reasonCharsMax), code: code === 'duplicate' ? 'duplicate' : 'refused' };
    }
  }
}

/** Reads the fields of one decoded step, with errors that say which field of which step. */
class StepFields {
  constructor(
    private readonly fields: Record<string, unknown>,
    private readonly step: string,
  ) {}

  uint(name: string): number {
    const value = this.fields[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw this.problem(name, 'is missing or not a number');
    return value;
  }

  name(name: string): string {
    const value = this.optionalString(name);
    if (value === undefined) throw this.problem(name, 'is missing');
    const problem = nameProblem(value);
    if (problem !== undefined) throw this.problem(name, problem);
    return value;
  }

  bytes(name: string, length: number): Uint8Array {
    const value = this.fields[name];
    if (!(value instanceof Uint8Array) || value.length !== length) throw this.problem(name, `must be ${length} bytes`);
    return value;
  }

  optionalString(name: string): string | undefined {
    const value = this.fields[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.problem(name, 'is not a string');
    return value;
  }

  private problem(name: string, what: string): PeerCodecError {
    return new PeerCodecError(`handshake ${this.step}.${name} ${what}`);
  }
}
