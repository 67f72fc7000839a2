// Behaviour of the `ringkv` command as a user sees it: help, configuration errors, and get, put
// and delete against a small in-test HTTP server that imitates the node's API (paths, headers,
// status codes), checking what is sent, what is printed and the exit code.

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const mainPath = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: readonly string[], stdin?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainPath, ...args], {
      env: { PATH: process.env['PATH'] ?? '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

type Handler = (request: SeenRequest, response: ServerResponse) => void;

/** Starts a fake node answering with `handler`, runs `body` with its address, and stops it. */
async function withFakeNode(handler: Handler, body: (node: string, seen: SeenRequest[]) => Promise<void>): Promise<void> {
  const seen: SeenRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const record = { method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(record);
      handler(record, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await body(`127.0.0.1:${port}`, seen);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

test('--help describes every command and the exit codes', async (t) => {
  const result = await run(['--help']);
  t.is(result.code, 0);
  for (const command of ['start', 'get', 'put', 'delete']) t.regex(result.stdout, new RegExp(`\\n  ${command}\\b.* {2,}\\S`));
  t.regex(result.stdout, /Exit codes: 0 found or done, 1 not found, 2 usage/);
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
});

test('get prints the value and sends quorum options as query parameters', async (t) => {
  await withFakeNode(
    (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain', 'x-ringkv-context': 'ctx-1' });
      response.end('hello');
    },
    async (node, seen) => {
      const result = await run(['get', 'users', 'alice', '--node', node, '--r', '2', '--n-val', '3', '--timeout-ms', '1500']);
      t.is(result.code, 0, result.stderr);
      t.is(result.stdout, 'hello');
      t.is(seen[0]?.method, 'GET');
      t.is(seen[0]?.url, '/v1/types/default/buckets/users/keys/alice?r=2&n_val=3&timeout_ms=1500');
    },
  );
});

test('get URL-encodes the type, bucket and key', async (t) => {
  await withFakeNode(
    (_request, response) => sendJson(response, 404, { error: { code: 'not_found', message: 'not found' } }),
    async (node, seen) => {
      const result = await run(['get', 'a b/c', 'k?x=1&y', '--type', 'my type', '--node', node]);
      t.is(result.code, 1);
      t.is(seen[0]?.url, '/v1/types/my%20type/buckets/a%20b%2Fc/keys/k%3Fx%3D1%26y');
      t.regex(result.stderr, /not found: type my type, bucket a b\/c, key k\?x=1&y/);
    },
  );
});

test('get --json gives the value, its content type and context', async (t) => {
  await withFakeNode(
    (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'x-ringkv-context': 'ctx-2' });
      response.end(Buffer.from([0xff, 0x00, 0x01]));
    },
    async (node) => {
      const result = await run(['get', 'b', 'k', '--node', node, '--json']);
      t.is(result.code, 0);
      t.deepEqual(JSON.parse(result.stdout), {
        found: true,
        value: null,
        value_base64: Buffer.from([0xff, 0x00, 0x01]).toString('base64'),
        content_type: 'application/octet-stream',
        context: 'ctx-2',
        siblings: [],
      });
    },
  );
});

test('get of an absent key exits 1, and --json says found: false', async (t) => {
  await withFakeNode(
    (_request, response) => sendJson(response, 404, { error: { code: 'not_found', message: 'no such key' } }),
    async (node) => {
      const result = await run(['get', 'b', 'missing', '--node', node, '--json']);
      t.is(result.code, 1);
      t.like(JSON.parse(result.stdout), { found: false, value: null, siblings: [] });
    },
  );
});

const siblingsBody = {
  context: 'ctx-3',
  siblings: [
    { value_base64: Buffer.from('red').toString('base64'), content_type: 'text/plain', last_modified: '2024-05-01T10:00:00.000Z', vtag: 'v1' },
    { value_base64: Buffer.from([0, 1, 2]).toString('base64'), content_type: 'application/octet-stream', last_modified: '2024-05-01T10:00:01.000Z', vtag: 'v2' },
  ],
};

test('get prints siblings readably', async (t) => {
  await withFakeNode(
    (_request, response) => sendJson(response, 300, siblingsBody),
    async (node) => {
      const result = await run(['get', 'b', 'k', '--node', node]);
      t.is(result.code, 0);
      t.regex(result.stdout, /^2 siblings; resolve them by writing with --context ctx-3\n/);
      t.regex(result.stdout, /--- sibling 1 of 2 \(vtag v1, text\/plain, last modified 2024-05-01T10:00:00.000Z\)\nred\n/);
      t.regex(result.stdout, /--- sibling 2 of 2 \(vtag v2, .*\)\n<3 bytes of binary; base64 AAEC>\n/);
    },
  );
});

test('get --json lists siblings', async (t) => {
  await withFakeNode(
    (_request, response) => sendJson(response, 300, siblingsBody),
    async (node) => {
      const result = await run(['get', 'b', 'k', '--node', node, '--json']);
      t.is(result.code, 0);
      const output = JSON.parse(result.stdout);
      t.like(output, { found: true, value: null, context: 'ctx-3' });
      t.deepEqual(output.siblings[0], { value: 'red', value_base64: 'cmVk', content_type: 'text/plain', last_modified: '2024-05-01T10:00:00.000Z', vtag: 'v1' });
      t.like(output.siblings[1], { value_base64: 'AAEC', vtag: 'v2' });
    },
  );
});

test('a server error exits 3 with its code and message', async (t) => {
  await withFakeNode(
    (_request, response) => sendJson(response, 503, { error: { code: 'insufficient_vnodes', message: 'only 1 of 2 replicas answered' } }),
    async (node) => {
      const result = await run(['get', 'b', 'k', '--node', node]);
      t.is(result.code, 3);
      t.true(result.stderr.includes(`node ${node} answered 503: insufficient_vnodes: only 1 of 2 replicas answered`));
      const json = await run(['get', 'b', 'k', '--node', node, '--json']);
      t.deepEqual(JSON.parse(json.stdout), { error: { code: 'insufficient_vnodes', message: 'only 1 of 2 replicas answered', status: 503 } });
    },
  );
});

test('an unreachable node exits 3 with a message naming it', async (t) => {
  let closedPort = 0;
  await withFakeNode(() => undefined, async (node) => {
    closedPort = Number(node.split(':')[1]);
  });
  const result = await run(['get', 'b', 'k', '--node', `127.0.0.1:${closedPort}`]);
  t.is(result.code, 3);
  t.regex(result.stderr, new RegExp(`cannot reach node 127\\.0\\.0\\.1:${closedPort} \\(.*ECONNREFUSED`));
});

test('put sends the value, content type, context and write quorums', async (t) => {
  await withFakeNode(
    (_request, response) => {
      response.writeHead(204, { 'x-ringkv-context': 'ctx-after' });
      response.end();
    },
    async (node, seen) => {
      const args = ['put', 'carts', 'c1', '{"items":[]}', '--node', node, '--content-type', 'application/json', '--context', 'ctx-before', '--w', 'all', '--dw', '1'];
      const result = await run(args);
      t.is(result.code, 0, result.stderr);
      t.is(result.stdout, '');
      t.like(seen[0], { method: 'PUT', url: '/v1/types/default/buckets/carts/keys/c1?w=all&dw=1', body: '{"items":[]}' });
      t.is(seen[0]?.headers['content-type'], 'application/json');
      t.is(seen[0]?.headers['x-ringkv-context'], 'ctx-before');

      const json = await run(['put', 'carts', 'c1', 'v', '--node', node, '--json']);
      t.deepEqual(JSON.parse(json.stdout), { ok: true, context: 'ctx-after' });
      t.is(seen[1]?.headers['content-type'], 'application/octet-stream');
      t.is(seen[1]?.headers['x-ringkv-context'], undefined);
    },
  );
});

test('put reads the value from stdin when no value argument is given', async (t) => {
  await withFakeNode(
    (_request, response) => {
      response.writeHead(204);
      response.end();
    },
    async (node, seen) => {
      const result = await run(['put', 'b', 'k', '--node', node], 'from stdin\n');
      t.is(result.code, 0, result.stderr);
      t.is(seen[0]?.body, 'from stdin\n');
    },
  );
});

test('put --return-body prints the object after the write', async (t) => {
  await withFakeNode(
    (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain', 'x-ringkv-context': 'ctx-4' });
      response.end('v2');
    },
    async (node, seen) => {
      const result = await run(['put', 'b', 'k', 'v2', '--node', node, '--return-body', '--json']);
      t.is(result.code, 0);
      t.like(JSON.parse(result.stdout), { found: true, value: 'v2', context: 'ctx-4' });
      t.is(seen[0]?.url, '/v1/types/default/buckets/b/keys/k?return_body=true');
    },
  );
});

test('put rejected by the node exits 3', async (t) => {
  await withFakeNode(
    (_request, response) => sendJson(response, 413, { error: { code: 'value_too_large', message: 'value exceeds 5 MiB' } }),
    async (node) => {
      const result = await run(['put', 'b', 'k', 'big', '--node', node]);
      t.is(result.code, 3);
      t.regex(result.stderr, /answered 413: value_too_large: value exceeds 5 MiB/);
    },
  );
});

test('delete sends the context and exits 0, or 1 when the key is absent', async (t) => {
  await withFakeNode(
    (request, response) => {
      if (request.url.includes('/keys/gone')) {
        sendJson(response, 404, { error: { code: 'not_found', message: 'not found' } });
        return;
      }
      response.writeHead(204);
      response.end();
    },
    async (node, seen) => {
      const result = await run(['delete', 'b', 'k', '--node', node, '--context', 'ctx-5', '--type', 'sessions', '--w', 'quorum']);
      t.is(result.code, 0, result.stderr);
      t.like(seen[0], { method: 'DELETE', url: '/v1/types/sessions/buckets/b/keys/k?w=quorum' });
      t.is(seen[0]?.headers['x-ringkv-context'], 'ctx-5');

      const absent = await run(['delete', 'b', 'gone', '--node', node]);
      t.is(absent.code, 1);
      t.regex(absent.stderr, /not found/);
    },
  );
});
