// The public surface of the ringkv protocol-buffers client. Everything a caller needs is
// exported from here; the files behind it may move.

export { RingkvClient, connect } from './client.js';
export { RingkvError, type RingkvErrorCode } from './errors.js';
export {
  type CounterValue,
  type DatatypeLocation,
  type DatatypeReadOptions,
  type DatatypeWriteOptions,
  type SetContext,
  type SetUpdate,
  type SetValue,
} from './datatypes.js';
export {
  type BucketProps,
  type Bytes,
  type Context,
  type DeleteOptions,
  type GetOptions,
  type GetReply,
  type ListKeysOptions,
  type PutOptions,
  type PutReply,
  type Quorum,
  type Sibling,
  type UserMetaEntry,
  resolve,
} from './messages.js';
export { type ClientLimits, type ClientOptions, defaultClientLimits } from './options.js';
