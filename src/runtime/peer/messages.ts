// What one node sends another over the peer transport: the vnode requests and replies of remote
// coordinators, the cluster's gossip, handoff streams, and the admin control plane. This file only
// names the messages; their wire form is in schema.ts and codec.ts, and the transport (transport.ts)
// never looks inside them beyond encoding and decoding.

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
  | { readonly kind: 'controlReply'; readonly requestId: number; readonly body: Uint8Array };

export type PeerMessageKind = PeerMessage['kind'];
