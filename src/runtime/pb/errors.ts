// The one table from KvService error codes to RpbErrorResp errmsg strings. Riak clients match on
// a few exact strings (`modified`, `match_found`, `timeout`, `overload`), so those codes map to
// them verbatim; every other code is sent as "<code>: <message>", keeping ringkv's stable code
// at the front of the text where a client can match it.

import type { KvError } from '../../core/errors.js';
import { errorFrame } from './frame.js';

/** Which precondition a write asked for, to name a precondition failure the way Riak does. */
export interface WritePreconditions {
  readonly ifNoneMatch: boolean;
  readonly ifNotModified: boolean;
}

const noPreconditions: WritePreconditions = { ifNoneMatch: false, ifNotModified: false };

export function errmsgOf(error: KvError, preconditions: WritePreconditions = noPreconditions): string {
  switch (error.code) {
    case 'precondition_failed':
      // if_none_match fails when the key exists (Riak: match_found); if_not_modified when the
      // stored context moved on (Riak: modified).
      if (preconditions.ifNoneMatch) return 'match_found';
      if (preconditions.ifNotModified) return 'modified';
      return `${error.code}: ${error.message}`;
    case 'timeout':
      return 'timeout';
    case 'overload':
      return 'overload';
    default:
      return `${error.code}: ${error.message}`;
  }
}

export function kvErrorFrame(error: KvError, preconditions?: WritePreconditions): Buffer {
  return errorFrame(errmsgOf(error, preconditions));
}
