// How the `ringkv` command names a node: HOST:PORT of its HTTP API.

import { InvalidArgumentError } from 'commander';

export interface NodeAddress {
  /** As the user wrote it, for messages. */
  readonly label: string;
  readonly origin: string;
}

export const defaultNodeAddress = '127.0.0.1:8098';

export function parseNodeAddress(text: string): NodeAddress {
  const withScheme = /^https?:\/\//.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError('must be HOST:PORT (for example 127.0.0.1:8098)');
  }
  if (url.port === '' || url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new InvalidArgumentError('must be HOST:PORT (for example 127.0.0.1:8098)');
  }
  return { label: text, origin: url.origin };
}
