// `ringkv list-keys` and `ringkv bucket-props` run as real processes against a real node's
// protocol-buffers port, through the TypeScript client.

import test from 'ava';
import { execFile } from 'node:child_process';
import { freePort } from '../integration/process-node.js';
import { bytes, startTestNode } from '../runtime/node/harness.js';

const cli = new URL('../../src/cli/main.js', import.meta.url).pathname;

function ringkv(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}

test('list-keys and bucket-props talk to the node through the client', async (t) => {
  const port = await freePort();
  const { node, cleanup } = await startTestNode({ pbPort: port });
  t.teardown(cleanup);
  for (const key of ['alice', 'bob']) {
    await node.kv.put({ key: { type: 'default', bucket: bytes('carts'), key: bytes(key) }, context: undefined, content: { value: bytes('x'), contentType: 'text/plain', userMeta: [] } });
  }
  const address = `127.0.0.1:${port}`;
  const listed = await ringkv(['list-keys', 'carts', '--node', address, '--json']);
  t.is(listed.code, 0, listed.stderr);
  t.deepEqual((JSON.parse(listed.stdout) as string[]).sort(), ['alice', 'bob']);
  const props = await ringkv(['bucket-props', 'carts', '--node', address, '--json']);
  t.is(props.code, 0, props.stderr);
  t.like(JSON.parse(props.stdout), { nVal: 3, allowMult: true, r: 'quorum' });
  const unknownType = await ringkv(['bucket-props', 'carts', '--node', address, '--type', 'nope']);
  t.is(unknownType.code, 3);
  t.regex(unknownType.stderr, /unknown_bucket_type/);
  const unreachable = await ringkv(['list-keys', 'carts', '--node', `127.0.0.1:${await freePort()}`]);
  t.is(unreachable.code, 4);
  t.regex(unreachable.stderr, /cannot reach node 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
});
