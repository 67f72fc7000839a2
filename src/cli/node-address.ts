// How the `ringkv` command names a node: always HOST:PORT, but of a different listener per kind
// of command. The data commands (get, put, delete, list-keys, bucket-props) talk to the node's
// protocol-buffers port; administration (cluster, bucket-type) to its HTTP API. Parsing only.

import { InvalidArgumentError } from 'commander';

/** An HTTP API address, for the administration commands. */
export interface NodeAddress {
  /** As the user wrote it, for messages. */
  readonly label: string;
  readonly origin: string;
}

/** The HTTP API of a node started with the defaults (httpPort 8098). */
export const defaultNodeAddress = '127.0.0.1:8098';

/** The protocol-buffers port of a node started with the defaults (pbPort 8087). */
export const defaultPbNodeAddress = '127.0.0.1:8087';

export function parseNodeAddress(text: string): NodeAddress {
  const withScheme = /^https?:\/\//.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError('must be HOST:PORT of the node\'s HTTP API (for example 127.0.0.1:8098)');
  }
  if (url.port === '' || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new InvalidArgumentError('must be HOST:PORT of the node\'s HTTP API (for example 127.0.0.1:8098)');
  }
  return { label: text, origin: url.origin };
}

const pbAddressPattern = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** HOST:PORT (or [IPv6]:PORT) of a protocol-buffers port, returned as written. */
export function parsePbNodeAddress(text: string): string {
  const match = pbAddressPattern.exec(text);
  const port = Number(match?.[2]);
  if (match !== null && port >= 1 && port <= 65535) return text;
  const why = /^[a-z]+:\/\//i.test(text) ? ', not a URL' : '';
  throw new InvalidArgumentError(`must be HOST:PORT of the node's protocol-buffers port (for example ${defaultPbNodeAddress})${why}`);
}
