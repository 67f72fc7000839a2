// Behaviour of the `ringkv` command as a user sees it: help, usage errors, and get, put and delete
// run as real processes against a real node (started in this test process) over its
// protocol-buffers port, checking what is printed and the exit code.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { freePort } from '../integration/process-node.js';
import { type TestNode, startTestNode } from '../runtime/node/harness.js';

const mainPath = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
}

function run(args: readonly string[], stdin?: string | Buffer): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainPath, ...args], {
      env: { PATH: process.env['PATH'] ?? '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const bytes = Buffer.concat(stdout);
      resolve({ code, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

test('--help describes every command and the exit codes', async (t) => {
  const result = await run(['--help']);
  t.is(result.code, 0);
  for (const command of ['start', 'get', 'put', 'delete', 'list-keys', 'bucket-props', 'cluster', 'bucket-type']) {
    t.regex(result.stdout, new RegExp(`\\n  ${command}\\b.* {2,}\\S`));
  }
  const folded = result.stdout.replace(/\s+/g, ' ');
  t.regex(folded, /get, put, delete, list-keys and bucket-props use its protocol-buffers port \(default 127\.0\.0\.1:8087\); cluster and bucket-type use its HTTP API \(default 127\.0\.0\.1:8098\)/);
  t.regex(folded, /Exit codes: 0 found or done, 1 not found, 2 usage or configuration error, 3 the node answered an error, 4 the node could not be reached/);
});

test('each data command names --node as the protocol-buffers port, and cluster commands as the HTTP API', async (t) => {
  for (const command of ['get', 'put', 'delete', 'list-keys', 'bucket-props']) {
    const result = await run([command, '--help']);
    t.regex(result.stdout.replace(/\s+/g, ' '), /--node <host:port> the node's protocol-buffers port \(pbPort\), not its HTTP port \(default: "127\.0\.0\.1:8087"\)/, command);
  }
  const status = await run(['cluster', 'status', '--help']);
  t.regex(status.stdout.replace(/\s+/g, ' '), /--node <host:port> the node's HTTP API \(httpPort\), not its protocol-buffers port \(default: 127\.0\.0\.1:8098\)/);
});

test('start --help lists each flag with its default and environment variable', async (t) => {
  const result = await run(['start', '--help']);
  t.is(result.code, 0);
  // Commander wraps the help text to the terminal width; compare with the line breaks folded.
  const folded = result.stdout.replace(/\s+/g, ' ');
  t.regex(folded, /--http-port <port> port of the HTTP API \(0 disables it\) \(default: 8098; env RINGKV_HTTP_PORT\)/);
  for (const flag of ['--config', '--data-dir', '--node-name', '--workers', '--http-host', '--durability', '--log-level', '--partitions', '--peer-port', '--join', '--zone', '--cluster-name']) {
    t.true(result.stdout.includes(flag), flag);
  }
  t.regex(result.stdout, /maxValueBytes\s+RINGKV_MAX_VALUE_BYTES\s+5 MiB/);
});

test('start with a bad flag value exits 2 naming the field and the value', async (t) => {
  const result = await run(['start', '--workers', 'abc']);
  t.is(result.code, 2);
  t.regex(result.stderr, /workers: must be an integer from 1 to 64, got "abc" \(from flag --workers\)/);
  t.is(result.stdout, '');
});

test('an unknown command or option is a usage error', async (t) => {
  t.is((await run(['frobnicate'])).code, 2);
  t.is((await run(['get', 'b', 'k', '--bogus'])).code, 2);
  t.is((await run(['get', 'b'])).code, 2);
  const badQuorum = await run(['get', 'b', 'k', '--r', 'most']);
  t.is(badQuorum.code, 2);
  t.regex(badQuorum.stderr, /--r <quorum>.*most.*invalid/);
  t.is((await run(['get', 'b', 'k', '--node', 'nowhere'])).code, 2);
  const url = await run(['get', 'b', 'k', '--node', 'http://127.0.0.1:8087']);
  t.is(url.code, 2);
  t.regex(url.stderr, /HOST:PORT of the node's protocol-buffers port .*not a URL/);
  const badContext = await run(['put', 'b', 'k', 'v', '--context', 'not a context']);
  t.is(badContext.code, 2);
  t.regex(badContext.stderr, /--context <context>.*must be a context exactly as a read printed it/);
});

// ---------------------------------------------------------------------------------------------
// Against a real node. One node serves every test below, each in buckets of its own; they run
// one at a time so that at most one CLI process runs beside the node.

let testNode: TestNode | undefined;
let node = '';
let httpAddress = '';

test.before(async () => {
  const [pbPort, httpPort] = [await freePort(), await freePort()];
  testNode = await startTestNode({ pbPort: String(pbPort), httpPort: String(httpPort) }, undefined, { RINGKV_MAX_VALUE_BYTES: '1024' });
  node = `127.0.0.1:${pbPort}`;
  httpAddress = `127.0.0.1:${httpPort}`;
});

test.after.always(async () => {
  await testNode?.cleanup();
});

test.serial('put then get prints the value; get --json gives it with its content type, context and vtag', async (t) => {
  const put = await run(['put', 'users', 'alice', 'hello', '--node', node, '--content-type', 'text/plain']);
  t.is(put.code, 0, put.stderr);
  t.is(put.stdout, '');
  const get = await run(['get', 'users', 'alice', '--node', node]);
  t.is(get.code, 0, get.stderr);
  t.is(get.stdout, 'hello');
  const json = await run(['get', 'users', 'alice', '--node', node, '--json']);
  t.is(json.code, 0, json.stderr);
  const output = JSON.parse(json.stdout);
  t.like(output, { found: true, value: 'hello', value_base64: 'aGVsbG8=', content_type: 'text/plain' });
  t.regex(output.context, /^[A-Za-z0-9_-]+$/);
  t.is(output.siblings.length, 1);
  t.like(output.siblings[0], { value: 'hello', value_base64: 'aGVsbG8=', content_type: 'text/plain', user_meta: {} });
  t.regex(output.siblings[0].vtag, /\S/);
  t.false(Number.isNaN(Date.parse(output.siblings[0].last_modified)));
});

test.serial('a binary value from stdin comes back as the same bytes, and as base64 in JSON', async (t) => {
  const value = Buffer.from([0xff, 0x00, 0x01, 0x0a]);
  const put = await run(['put', 'blobs', 'b1', '--node', node], value);
  t.is(put.code, 0, put.stderr);
  const get = await run(['get', 'blobs', 'b1', '--node', node]);
  t.is(get.code, 0, get.stderr);
  t.deepEqual(get.stdoutBytes, value);
  const json = await run(['get', 'blobs', 'b1', '--node', node, '--json']);
  t.like(JSON.parse(json.stdout), { found: true, value: null, value_base64: value.toString('base64'), content_type: 'application/octet-stream' });
});

test.serial('names are bytes: spaces, slashes and query characters reach the node as written', async (t) => {
  const put = await run(['put', 'a b/c', 'k?x=1&y', 'v', '--node', node]);
  t.is(put.code, 0, put.stderr);
  t.is((await run(['get', 'a b/c', 'k?x=1&y', '--node', node])).stdout, 'v');
  const listed = await run(['list-keys', 'a b/c', '--node', node, '--json']);
  t.deepEqual(JSON.parse(listed.stdout), ['k?x=1&y']);
});

test.serial('get prints every sibling, --json lists them with vtags and the context, and a write with it resolves them', async (t) => {
  t.is((await run(['put', 'prefs', 'color', 'red', '--node', node, '--content-type', 'text/plain'])).code, 0);
  t.is((await run(['put', 'prefs', 'color', '--node', node], Buffer.from([0x00, 0xff, 0x01]))).code, 0);
  const json = await run(['get', 'prefs', 'color', '--node', node, '--json']);
  t.is(json.code, 0, json.stderr);
  const output = JSON.parse(json.stdout);
  t.like(output, { found: true, value: null, value_base64: null, content_type: null });
  t.is(output.siblings.length, 2);
  const [red, binary] = output.siblings[0].value === 'red' ? output.siblings : [...output.siblings].reverse();
  t.like(red, { value: 'red', value_base64: 'cmVk', content_type: 'text/plain' });
  t.like(binary, { value: null, value_base64: 'AP8B', content_type: 'application/octet-stream' });
  t.not(red.vtag, binary.vtag);

  const readable = await run(['get', 'prefs', 'color', '--node', node]);
  t.is(readable.code, 0);
  t.true(readable.stdout.startsWith(`2 siblings; resolve them by writing with --context ${output.context}\n`), readable.stdout);
  t.true(readable.stdout.includes(`(vtag ${red.vtag}, text/plain, last modified ${red.last_modified})\nred\n`), readable.stdout);
  t.true(readable.stdout.includes(`(vtag ${binary.vtag}, application/octet-stream, last modified ${binary.last_modified})\n<3 bytes of binary; base64 AP8B>\n`), readable.stdout);

  const resolved = await run(['put', 'prefs', 'color', 'orange', '--node', node, '--context', output.context, '--json']);
  t.is(resolved.code, 0, resolved.stderr);
  const written = JSON.parse(resolved.stdout);
  t.true(written.ok);
  t.not(written.context, output.context);
  t.is((await run(['get', 'prefs', 'color', '--node', node])).stdout, 'orange');

  // --overwrite replaces siblings without a context.
  t.is((await run(['put', 'prefs', 'color', 'blue', '--node', node])).code, 0);
  t.true((await run(['get', 'prefs', 'color', '--node', node])).stdout.startsWith('2 siblings'));
  t.is((await run(['put', 'prefs', 'color', 'green', '--node', node, '--overwrite'])).code, 0);
  t.is((await run(['get', 'prefs', 'color', '--node', node])).stdout, 'green');
  const both = await run(['put', 'prefs', 'color', 'x', '--node', node, '--overwrite', '--context', written.context]);
  t.not(both.code, 0);
  t.regex(both.stderr, /overwrite takes no context/);
});

test.serial('put --return-body prints the object after the write, as get does', async (t) => {
  const human = await run(['put', 'notes', 'n1', '--node', node, '--content-type', 'text/plain', '--return-body'], 'from stdin\n');
  t.is(human.code, 0, human.stderr);
  t.is(human.stdout, 'from stdin\n');
  const json = await run(['put', 'notes', 'n2', 'v2', '--node', node, '--return-body', '--json']);
  t.is(json.code, 0, json.stderr);
  const output = JSON.parse(json.stdout);
  t.like(output, { found: true, value: 'v2' });
  t.is(output.siblings.length, 1);
  t.regex(output.context, /^[A-Za-z0-9_-]+$/);
});

test.serial('an absent key exits 1; a deleted one also gives, in --json, the context that supersedes the delete', async (t) => {
  const absent = await run(['get', 'carts', 'nobody', '--node', node, '--type', 'default']);
  t.is(absent.code, 1);
  t.regex(absent.stderr, /not found: type default, bucket carts, key nobody/);
  t.is(absent.stdout, '');
  const absentJson = await run(['get', 'carts', 'nobody', '--node', node, '--json']);
  t.is(absentJson.code, 1);
  t.deepEqual(JSON.parse(absentJson.stdout), { found: false, value: null, value_base64: null, content_type: null, context: null, siblings: [] });

  t.is((await run(['put', 'carts', 'dave', 'two apples', '--node', node])).code, 0);
  const read = JSON.parse((await run(['get', 'carts', 'dave', '--node', node, '--json'])).stdout);
  const deleted = await run(['delete', 'carts', 'dave', '--node', node, '--context', read.context, '--w', 'quorum', '--dw', 'one', '--pw', '0', '--json']);
  t.is(deleted.code, 0, deleted.stderr);
  t.deepEqual(JSON.parse(deleted.stdout), { ok: true });
  const gone = await run(['get', 'carts', 'dave', '--node', node, '--json']);
  t.is(gone.code, 1);
  t.like(JSON.parse(gone.stdout), { found: false, siblings: [] });
  t.regex(JSON.parse(gone.stdout).context, /^[A-Za-z0-9_-]+$/);

  const again = await run(['delete', 'carts', 'never-written', '--node', node]);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, '');
});

test.serial('quorums, n_val and the timeout reach the node', async (t) => {
  t.is((await run(['put', 'q', 'k', 'v', '--node', node, '--w', 'all', '--dw', '1', '--pw', 'default', '--n-val', '3', '--timeout-ms', '4000'])).code, 0);
  const read = await run(['get', 'q', 'k', '--node', node, '--r', 'all', '--pr', '1', '--n-val', '3', '--timeout-ms', '4000']);
  t.is(read.code, 0, read.stderr);
  t.is(read.stdout, 'v');
  // Each option is refused by the node when out of range, which shows that it was sent.
  const refused: Array<[string[], RegExp]> = [
    [['get', 'q', 'k', '--r', '5'], /invalid_request: r must be/],
    [['get', 'q', 'k', '--pr', '5'], /invalid_request: pr must be/],
    [['put', 'q', 'k', 'v', '--w', '5'], /invalid_request: w must be/],
    [['put', 'q', 'k', 'v', '--dw', '5'], /invalid_request: dw must be/],
    [['put', 'q', 'k', 'v', '--pw', '5'], /invalid_request: pw must be/],
    [['delete', 'q', 'k', '--w', '5'], /invalid_request: w must be/],
    [['get', 'q', 'k', '--n-val', '7'], /invalid_request: n_val must be/],
    [['delete', 'q', 'k', '--n-val', '7'], /invalid_request: n_val must be/],
    [['get', 'q', 'k', '--timeout-ms', '99999999'], /invalid_request: timeout_ms must be/],
  ];
  for (const [args, expected] of refused) {
    const result = await run([...args, '--node', node]);
    t.is(result.code, 3, args.join(' '));
    t.regex(result.stderr, expected, args.join(' '));
  }
});

test.serial('an error from the node exits 3 with its code and message, and as JSON with --json', async (t) => {
  const result = await run(['get', 'b', 'k', '--node', node, '--type', 'nope']);
  t.is(result.code, 3);
  t.true(result.stderr.includes(`ringkv: node ${node} answered with an error: unknown_bucket_type: bucket type "nope" is not defined`), result.stderr);
  const json = await run(['put', 'b', 'k', 'x'.repeat(2000), '--node', node, '--json']);
  t.is(json.code, 3);
  const { error } = JSON.parse(json.stdout);
  t.is(error.code, 'value_too_large');
  t.regex(error.message, /1024/);
});

test.serial('an unreachable node exits 4 with a message naming it and the port --node wants', async (t) => {
  const closed = `127.0.0.1:${await freePort()}`;
  for (const args of [['get', 'b', 'k'], ['put', 'b', 'k', 'v'], ['delete', 'b', 'k'], ['list-keys', 'b'], ['bucket-props', 'b']]) {
    const result = await run([...args, '--node', closed]);
    t.is(result.code, 4, args[0]);
    t.true(result.stderr.includes(`ringkv: cannot reach node ${closed} (ECONNREFUSED); is a node running there? --node takes HOST:PORT of a node's protocol-buffers port`), result.stderr);
  }
  const json = await run(['get', 'b', 'k', '--node', closed, '--json']);
  t.like(JSON.parse(json.stdout), { error: { code: 'unreachable' } });
});

test.serial("the node's HTTP port given as --node exits 4 and says which port to use", async (t) => {
  const result = await run(['get', 'b', 'k', '--node', httpAddress]);
  t.is(result.code, 4);
  t.regex(result.stderr, /did not answer as a protocol-buffers port does .*is that its HTTP port\? --node takes HOST:PORT of a node's protocol-buffers port \(default 127\.0\.0\.1:8087\)/);
});


test.serial('cluster status prints the members with liveness, anti-entropy per partition, and the tombstones awaiting reaping', async (t) => {
  const status = await run(['cluster', 'status', '--node', httpAddress]);
  t.is(status.code, 0, status.stderr);
  const lines = status.stdout.split('\n');
  t.regex(status.stdout, /^member +status +owned +in +out +liveness +phi +peer address$/m);
  t.true(lines.some((l) => /^\S+ +valid +16 +0 +0 +up +0 /.test(l)), status.stdout);
  t.regex(status.stdout, /^anti-entropy on this node: \d+ trees ready, \d+ building, \d+ exchanges in the last minute, \d+ keys repaired/m);
  t.is(lines.filter((l) => /^ +\d+ (ready|rebuilding|pending) +\d+ +\d+ +\S+ s?/.test(l)).length, 16, 'one line per partition');
  t.regex(status.stdout, /^tombstones awaiting reaping: (not counted yet|\d+ \(reaped \d+)/m);
});
