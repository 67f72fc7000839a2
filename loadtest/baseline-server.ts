// The ceiling for the HTTP API: a plain node:http server that answers the same routes as ringkv
// from a Map in memory, with no durability, no versions and no worker threads. `npm run bench`
// measures ringkv next to it on the same machine in the same run.

import { createServer } from 'node:http';

const store = new Map<string, Buffer>();
const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET') {
    const value = store.get(url);
    if (value === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found"}}');
    } else {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-ringkv-context': 'AQA' }).end(value);
    }
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    store.set(url, Buffer.concat(chunks));
    res.writeHead(204, { 'x-ringkv-context': 'AQA' }).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const address = server.address() as { port: number };
  console.log(`baseline listening http on http://127.0.0.1:${address.port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
