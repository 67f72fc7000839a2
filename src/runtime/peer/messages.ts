// What one node sends another over the peer transport: the vnode requests and replies of remote
// coordinators, the cluster's gossip, handoff streams, anti-entropy exchanges, and the admin
// control plane. This file only
// names the messages; their wire form is in schema.ts and codec.ts, and the transport (transport.ts)
// never looks inside them beyond encoding and decoding.

import type { ExchangeAnswer, ExchangeRequest, TreeId } from '../../core/aae-exchange.js';
import type { VnodeReply, VnodeRequest } from '../../core/messages.js';

/** One stored object in a handoff batch: the storage key and the encoded object, as stored. */
export interface HandoffItem {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export type PeerMessage =
  | { readonly kind: 'vnodeRequest'; readonly request: VnodeRequest }
  | { readonly kind: 'vnodeReply'; readonly reply: VnodeReply }
  /** Opaque bytes: the cluster layer encodes and decodes its own gossip state. */
  | { readonly kind: 'gossip'; readonly state: Uint8Array }
  /** Liveness for the failure detector; any other message from the peer counts as well. */
  | { readonly kind: 'heartbeat' }
  | {
      readonly kind: 'handoffBatch';
      readonly transferId: string;
      readonly partition: number;
      readonly seq: number;
      readonly items: readonly HandoffItem[];
      readonly last: boolean;
    }
  | {
      readonly kind: 'handoffAck';
      readonly transferId: string;
      readonly partition: number;
      readonly seq: number;
      readonly error?: string | undefined;
    }
  /** Admin RPC; the body is opaque JSON bytes, answered by a controlReply with the same requestId. */
  | { readonly kind: 'control'; readonly requestId: number; readonly body: Uint8Array }
  | { readonly kind: 'controlReply'; readonly requestId: number; readonly body: Uint8Array }
  /**
   * Anti-entropy: one side of an exchange asks the vnode `partition` on the receiving node for
   * node hashes or segment keys of its tree `tree`; answered by an aaeAnswer with the same
   * requestId (the asker's, unique on the asking node).
   */
  | { readonly kind: 'aaeRequest'; readonly requestId: number; readonly partition: number; readonly tree: TreeId; readonly request: ExchangeRequest }
  | { readonly kind: 'aaeAnswer'; readonly requestId: number; readonly answer: ExchangeAnswer };

export type PeerMessageKind = PeerMessage['kind'];
