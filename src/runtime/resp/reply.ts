// Encoders for the RESP2 reply types: simple strings, errors, integers, bulk strings, nil and
// arrays. Error and simple-string text is made single-line here, so no caller can break the
// framing with a message that holds a CR or LF. Nothing here knows which command it answers.

const crlf = Buffer.from('\r\n');

export const emptyReply = Buffer.alloc(0);
export const okReply = Buffer.from('+OK\r\n');
export const pongReply = Buffer.from('+PONG\r\n');
export const nilReply = Buffer.from('$-1\r\n');
export const emptyArrayReply = Buffer.from('*0\r\n');

const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ');

export function simpleReply(text: string): Buffer {
  return Buffer.from(`+${oneLine(text)}\r\n`);
}

/** `text` starts with the error's code word: `ERR ...`, `NOPROTO ...`. */
export function errorReply(text: string): Buffer {
  return Buffer.from(`-${oneLine(text)}\r\n`);
}

export function integerReply(value: number): Buffer {
  return Buffer.from(`:${value}\r\n`);
}

export function bulkReply(value: Uint8Array | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([Buffer.from(`$${bytes.length}\r\n`), bytes, crlf]);
}

/** An array of replies already encoded. */
export function arrayReply(items: readonly Uint8Array[]): Buffer {
  return Buffer.concat([Buffer.from(`*${items.length}\r\n`), ...items]);
}
