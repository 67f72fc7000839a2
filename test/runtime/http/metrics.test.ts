import test from 'ava';
import { prometheusText } from '../../../src/runtime/http/metrics.js';
import { startTestNode } from '../node/harness.js';
import { freePort } from '../../integration/process-node.js';

test('stats flatten into gauges named by path, arrays labelled by their identifying field', (t) => {
  const text = prometheusText({
    uptimeMs: 1500,
    storageFailure: null,
    node: 'a@127.0.0.1',
    requests: { get: { count: 3, latencyMs: { p99: 1.25 } } },
    workers: [{ workerIndex: 0, requestsHandled: 7 }, { workerIndex: 1, requestsHandled: 9 }],
    cluster: { liveness: [{ peer: 'b@127.0.0.1', phi: 0.5, up: true }], peers: [{ name: 'b@127.0.0.1', connected: false }] },
    list: [{ value: 4 }],
  });
  const lines = text.trim().split('\n');
  t.true(lines.includes('ringkv_uptime_ms 1500'));
  t.true(lines.includes('ringkv_requests_get_count 3'));
  t.true(lines.includes('ringkv_requests_get_latency_ms_p99 1.25'));
  t.true(lines.includes('ringkv_workers_requests_handled{worker="0"} 7'));
  t.true(lines.includes('ringkv_workers_requests_handled{worker="1"} 9'));
  t.true(lines.includes('ringkv_cluster_liveness_phi{peer="b@127.0.0.1"} 0.5'));
  t.true(lines.includes('ringkv_cluster_liveness_up{peer="b@127.0.0.1"} 1'));
  t.true(lines.includes('ringkv_cluster_peers_connected{name="b@127.0.0.1"} 0'));
  t.true(lines.includes('ringkv_list_value{index="0"} 4'));
  t.false(text.includes('storage_failure'), 'non-numeric leaves are left out');
  t.false(text.includes('ringkv_workers_worker_index'), 'the label field is not also a metric');
  // Each family is declared once, before its samples.
  t.is(lines.filter((l) => l === '# TYPE ringkv_workers_requests_handled gauge').length, 1);
  t.true(lines.indexOf('# TYPE ringkv_workers_requests_handled gauge') < lines.indexOf('ringkv_workers_requests_handled{worker="0"} 7'));
});

test('GET /metrics on a node answers the Prometheus text format', async (t) => {
  const node = await startTestNode({ httpPort: await freePort() });
  try {
    const url = node.node.addresses.http!;
    await fetch(`${url}/v1/buckets/b/keys/k`, { method: 'PUT', body: 'v' });
    const response = await fetch(`${url}/metrics`);
    t.is(response.status, 200);
    t.regex(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    t.regex(text, /^ringkv_requests_put_count 1$/m);
    t.regex(text, /^ringkv_workers_requests_handled\{worker="0"\} \d+$/m);
    t.regex(text, /^ringkv_cluster_members 1$/m);
    t.is((await fetch(`${url}/metrics?x=1`)).status, 400);
    t.is((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await node.cleanup();
  }
});
