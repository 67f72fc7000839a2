// How a node starts and stops its protocol-buffers listener: the address it reports, a clear
// start failure when the port is taken, and the frame limit taken from maxRequestBodyBytes.

import test from 'ava';
import { connect, createServer } from 'node:net';
import { NodeStartError } from '../../../src/runtime/node.js';
import { freePort } from '../../integration/process-node.js';
import { startTestNode } from '../node/harness.js';

test('a node with pbPort set listens there and reports addresses.pb; pbPort 0 starts none', async (t) => {
  const port = await freePort();
  const on = await startTestNode({ pbPort: port });
  t.teardown(() => on.cleanup());
  t.is(on.node.addresses.pb, `127.0.0.1:${port}`);
  const off = await startTestNode({ pbPort: 0 });
  t.teardown(() => off.cleanup());
  t.is(off.node.addresses.pb, undefined);
});

test('a taken port fails the start with NodeStartError naming the port and --pb-port 0', async (t) => {
  const blocker = createServer();
  const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const error = await t.throwsAsync(startTestNode({ pbPort: port }));
  t.true(error instanceof NodeStartError);
  t.regex(error!.message, new RegExp(`protocol buffers on 127\\.0\\.0\\.1:${port}.*--pb-port 0`));
});

test('the node refuses a frame over maxRequestBodyBytes from its header and closes the connection', async (t) => {
  const port = await freePort();
  const node = await startTestNode({ pbPort: port, maxValueBytes: 1024, maxRequestBodyBytes: 2048 });
  t.teardown(() => node.cleanup());
  const socket = connect(port, '127.0.0.1');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(Buffer.from('0000080109', 'hex')); // announces 2049 bytes, sends one
  await closed;
  const reply = Buffer.concat(received);
  t.is(reply[4], 0, 'RpbErrorResp');
  t.regex(reply.toString('latin1'), /frame of 2049 bytes is over the limit of 2048 bytes/);
});

test('RpbSetBucketTypeReq changes a bucket type on a node, refused properties named', async (t) => {
  const { encodeMessageFrame } = await import('../../../src/runtime/pb/frame.js');
  const { MessageCode } = await import('../../../src/runtime/pb/schema.js');
  const port = await freePort();
  const httpPort = await freePort();
  const node = await startTestNode({ pbPort: port, httpPort });
  t.teardown(() => node.cleanup());
  const exchange = async (frame: Uint8Array): Promise<Buffer> => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write(frame);
    await new Promise((r) => setTimeout(r, 300));
    socket.destroy();
    return Buffer.concat(chunks);
  };
  const ok = await exchange(encodeMessageFrame(MessageCode.SetBucketTypeReq, 'RpbSetBucketTypeReq', { type: Buffer.from('default'), props: { allow_mult: false, w: 1 } }));
  t.is(ok[4], MessageCode.SetBucketResp);
  const shown = (await (await fetch(`${node.node.addresses.http}/v1/types/default`)).json()) as { props: { allowMult: boolean; w: unknown } };
  t.deepEqual([shown.props.allowMult, shown.props.w], [false, 1]);
  const refused = await exchange(encodeMessageFrame(MessageCode.SetBucketTypeReq, 'RpbSetBucketTypeReq', { type: Buffer.from('default'), props: { search: true } }));
  t.is(refused[4], MessageCode.ErrorResp);
  t.regex(refused.toString('latin1'), /ringkv bucket types have no search/);
});
