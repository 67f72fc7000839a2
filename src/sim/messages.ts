// What simulated nodes send each other. They mirror the production peer protocol: vnode requests
// and replies of remote coordinators, gossip of the cluster state, the join and commit control
// calls, and the handoff stream with its acknowledgements. States travel as values (they are
// immutable); a node option passes each through the wire codec as well. Like every message in the project, a discriminated union ending in
// assertNever where it is handled.

import type { ClusterState, NewMember } from '../core/cluster.js';
import type { VnodeReply, VnodeRequest } from '../core/messages.js';

export interface HandoffItem {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export type NodeMessage =
  | { readonly type: 'VnodeRequestMsg'; readonly request: VnodeRequest }
  | { readonly type: 'VnodeReplyMsg'; readonly reply: VnodeReply }
  | { readonly type: 'Gossip'; readonly state: ClusterState }
  | { readonly type: 'JoinRequest'; readonly member: NewMember }
  | { readonly type: 'JoinReply'; readonly ok: boolean; readonly state: ClusterState | undefined; readonly message: string }
  | { readonly type: 'CommitRequest'; readonly callId: number }
  | { readonly type: 'CommitReply'; readonly callId: number; readonly ok: boolean; readonly state: ClusterState | undefined; readonly message: string }
  /** A batch of a partition's objects; `seq` counts batches from 0 within one transfer. */
  | { readonly type: 'HandoffBatch'; readonly transferId: string; readonly partition: number; readonly seq: number; readonly items: readonly HandoffItem[]; readonly last: boolean }
  /** The batch is merged and durable at the receiver. */
  | { readonly type: 'HandoffAck'; readonly transferId: string; readonly partition: number; readonly seq: number }
  /** A write the old owner applied while (or after) handing the partition off: merge it too. */
  | { readonly type: 'HandoffForward'; readonly forwardId: number; readonly partition: number; readonly item: HandoffItem }
  | { readonly type: 'HandoffForwardAck'; readonly forwardId: number; readonly partition: number }
  /** Sent every heartbeat interval to every member, for failure detection (any message is a sign of life). */
  | { readonly type: 'Heartbeat' }
  /** Tombstone reaping asks which partitions the node holds data of without owning them. */
  | { readonly type: 'ForeignQuery'; readonly callId: number }
  | { readonly type: 'ForeignAnswer'; readonly callId: number; readonly partitions: readonly number[] }
  /**
   * Not sent by a node: what the sender's peer connection reports. `ConnectionReset`: the peer's
   * process died, so requests sent to it will not be answered; `Unreachable`: a request reached a
   * host whose process is down, and the connection was refused. Neither is a sign of life.
   */
  | { readonly type: 'ConnectionReset' }
  | { readonly type: 'Unreachable'; readonly reply: VnodeReply };

export function describeMessage(m: NodeMessage): string {
  switch (m.type) {
    case 'VnodeRequestMsg':
      return `${m.request.type} r${m.request.requestId} p${m.request.partition}`;
    case 'VnodeReplyMsg':
      return `${m.reply.type} r${m.reply.requestId} p${m.reply.partition}`;
    case 'HandoffBatch':
      return `HandoffBatch ${m.transferId} #${m.seq} ${m.items.length}${m.last ? ' last' : ''}`;
    case 'HandoffAck':
      return `HandoffAck ${m.transferId} #${m.seq}`;
    case 'HandoffForward':
    case 'HandoffForwardAck':
      return `${m.type} f${m.forwardId} p${m.partition}`;
    case 'CommitRequest':
    case 'CommitReply':
    case 'ForeignQuery':
    case 'ForeignAnswer':
      return `${m.type} c${m.callId}`;
    case 'Unreachable':
      return `Unreachable r${m.reply.requestId} p${m.reply.partition}`;
    case 'Gossip':
    case 'JoinRequest':
    case 'JoinReply':
    case 'Heartbeat':
    case 'ConnectionReset':
      return m.type;
  }
}
