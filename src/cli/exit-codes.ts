// The exit codes of the `ringkv` command, in one place so that every command, its --help and the
// README say the same thing. A script tells "the node said no" (3) from "no node answered" (4).

export const exitCodes = {
  /** Found, or done. */
  ok: 0,
  /** The key has no value (get). `ringkv start` also exits 1 when it could not start. */
  notFound: 1,
  /** A usage or configuration error: nothing was sent. */
  usage: 2,
  /** The node answered with an error; its code and message are printed. */
  nodeError: 3,
  /** No node answered: connection refused or reset, no reply in time, or not the right port. */
  unreachable: 4,
} as const;

export const exitCodesHelp =
  'Exit codes: 0 found or done, 1 not found, 2 usage or configuration error, 3 the node answered an\n' +
  'error, 4 the node could not be reached (connection refused or reset, no answer in time, wrong port).';
