// Phi-accrual failure detection on real processes at the defaults (heartbeat every 1 s, threshold
// 8, 2.5 s acceptable pause): how long after a SIGSTOP the other nodes suspect the stopped one,
// how soon they take it back after SIGCONT, and that a cluster whose machine is saturated (a
// busy-loop process per core plus client load) never suspects a live member. Detection is read
// from the nodes' own "peer suspected" log lines (exact, with their timestamps) and confirmed
// through GET /v1/cluster/status, which is also polled for the highest phi seen.
//
// The bound asserted for detection comes from docs/failure-detection.md: with 1 s heartbeats phi
// reaches 8 about 4.0 s after the last heartbeat when they are regular, and at most 5.9 s after
// it under the modelled load (1000 ± 300 ms with stalls). Measured from the SIGSTOP that is 0-1 s
// less; the node re-evaluates liveness every 100 ms. So detection must fall between 2 s (the
// 2.5 s acceptable pause, less the time since the last heartbeat) and 7 s (5.9 s, plus the 100 ms
// tick, plus a second of margin for this two-core machine running other tests at once).

import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { type ClusterNodeProcess, startClusterNode, stopAll, waitSettled } from '../cluster-harness.js';

const long = process.env['RINGKV_FAULT_LONG'] === '1';
const detectionMsMin = 2000;
const detectionMsMax = 7000;

/** Production defaults for everything failure detection depends on (the harness speeds gossip up). */
const defaultsEnv: NodeJS.ProcessEnv = { RINGKV_GOSSIP_INTERVAL_MS: '1000', RINGKV_HEARTBEAT_INTERVAL_MS: '1000', RINGKV_PHI_THRESHOLD: '8' };

interface Member {
  readonly name: string;
  readonly liveness: string;
  readonly phi: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function members(node: ClusterNodeProcess): Promise<Member[]> {
  const response = await fetch(`${node.url}/v1/cluster/status`, { signal: AbortSignal.timeout(5000) });
  return ((await response.json()) as { members: Member[] }).members;
}

/** The wall-clock times at which `node` logged that it suspects `peer`, at or after `sinceMs`. */
function suspicionsLogged(node: ClusterNodeProcess, peer: string | undefined, sinceMs: number): number[] {
  const out: number[] = [];
  for (const line of node.process.output().split('\n')) {
    if (!line.includes('peer suspected')) continue;
    let entry: { time: number; peer: string };
    try {
      entry = JSON.parse(line) as { time: number; peer: string };
    } catch {
      continue; // the last line, still being written
    }
    if (entry.time >= sinceMs && (peer === undefined || entry.peer === peer)) out.push(entry.time);
  }
  return out;
}

async function startThree(): Promise<ClusterNodeProcess[]> {
  const nodes: ClusterNodeProcess[] = [];
  const options = { env: defaultsEnv, extraArgs: ['--workers', '1'] };
  nodes.push(await startClusterNode('fd-a', options));
  nodes.push(await startClusterNode('fd-b', { ...options, join: nodes[0]!.peer }));
  nodes.push(await startClusterNode('fd-c', { ...options, join: nodes[0]!.peer }));
  await waitSettled(nodes, nodes.map((n) => n.name));
  return nodes;
}

/** Polls the observers until each reports `peer` with a liveness for which `want` holds; ms after `startMs` per observer. */
async function timeUntil(observers: readonly ClusterNodeProcess[], peer: string, want: (liveness: string) => boolean, startMs: number, timeoutMs: number): Promise<(number | undefined)[]> {
  const seen: (number | undefined)[] = observers.map(() => undefined);
  while (seen.some((s) => s === undefined) && performance.now() - startMs < timeoutMs) {
    await Promise.all(observers.map(async (o, i) => {
      if (seen[i] !== undefined) return;
      const m = (await members(o).catch(() => [])).find((x) => x.name === peer);
      if (m !== undefined && want(m.liveness)) seen[i] = performance.now() - startMs;
    }));
    await sleep(50);
  }
  return seen;
}

test.serial('a SIGSTOPped node is suspected within the bound the defaults give, and taken back at once after SIGCONT', async (t) => {
  t.timeout(long ? 600_000 : 120_000);
  const nodes = await startThree();
  const [a, b, c] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
  const rounds = long ? 5 : 1;
  try {
    for (let round = 1; round <= rounds; round++) {
      // Heartbeat history first, so phi works from measured intervals rather than its seed.
      await sleep(long ? 30_000 : 10_000);
      const history = await Promise.all([a, b].map(async (o) => {
        const stats = (await (await fetch(`${o.url}/v1/stats`)).json()) as { cluster: { liveness: { peer: string; meanIntervalMs: number; stdDevMs: number }[] } };
        const h = stats.cluster.liveness.find((x) => x.peer === c.name);
        return `μ ${Math.round(h?.meanIntervalMs ?? 0)} ms σ ${Math.round(h?.stdDevMs ?? 0)} ms`;
      }));
      const stopWallMs = Date.now();
      const stopMs = performance.now();
      c.process.child.kill('SIGSTOP');
      const polled = await timeUntil([a, b], c.name, (l) => l !== 'up', stopMs, 20_000);
      const logged = [a, b].map((o) => suspicionsLogged(o, c.name, stopWallMs)[0]);
      // Keep it stopped a little past detection, then continue it.
      await sleep(1000);
      const resumeWallMs = Date.now();
      const resumeMs = performance.now();
      c.process.child.kill('SIGCONT');
      const back = await timeUntil([a, b], c.name, (l) => l === 'up', resumeMs, 10_000);
      await sleep(1500);
      const resumedSuspects = suspicionsLogged(c, undefined, resumeWallMs);
      const fromLog = logged.map((time) => (time === undefined ? undefined : time - stopWallMs));
      t.log(`round ${round}: intervals between messages from ${c.name} before the stop: ${history.join(' / ')}`);
      t.log(`round ${round}: suspected after SIGSTOP by ${a.name} ${fromLog[0]} ms, by ${b.name} ${fromLog[1]} ms (logs); status showed it after ${polled.map((p) => p?.toFixed(0)).join(' / ')} ms; up again ${back.map((p) => p?.toFixed(0)).join(' / ')} ms after SIGCONT; suspicions logged by the resumed node: ${resumedSuspects.length}`);
      for (const ms of fromLog) {
        t.not(ms, undefined, 'the stopped node was suspected');
        t.true(ms! >= detectionMsMin && ms! <= detectionMsMax, `detected after ${ms} ms, expected ${detectionMsMin}..${detectionMsMax}`);
      }
      for (const ms of back) t.true(ms !== undefined && ms <= 2500, `taken back after ${ms} ms`);
    }
  } finally {
    for (const n of nodes) n.process.child.kill('SIGCONT');
    await stopAll(nodes);
  }
});

/** One busy-looping process per core, to saturate the machine. */
function startBurners(): ChildProcess[] {
  return Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

/** Client load: writes and reads spread over the nodes until `running()` is false; returns the operations made. */
async function clientLoad(nodes: readonly ClusterNodeProcess[], clients: number, running: () => boolean): Promise<number> {
  let ops = 0;
  await Promise.all(Array.from({ length: clients }, async (_, client) => {
    for (let i = 0; running(); i++) {
      const node = nodes[(client + i) % nodes.length]!;
      const url = `${node.url}/v1/buckets/load/keys/c${client}-k${i % 50}`;
      await fetch(url, { method: 'PUT', body: `v${i}`, headers: { 'content-type': 'text/plain' }, signal: AbortSignal.timeout(10_000) }).then((r) => r.body?.cancel()).catch(() => undefined);
      await fetch(url, { signal: AbortSignal.timeout(10_000) }).then((r) => r.body?.cancel()).catch(() => undefined);
      ops += 2;
    }
  }));
  return ops;
}

/** How late a 100 ms timer fires in this process while it runs: the event-loop stalls the load causes. */
function timerLateness(): { stop: () => { maxMs: number; p99Ms: number } } {
  const late: number[] = [];
  let expected = performance.now() + 100;
  const timer = setInterval(() => {
    const now = performance.now();
    late.push(Math.max(0, now - expected));
    expected = now + 100;
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      late.sort((x, y) => x - y);
      return { maxMs: Math.round(late.at(-1) ?? 0), p99Ms: Math.round(late[Math.floor(late.length * 0.99)] ?? 0) };
    },
  };
}

/**
 * Stalls a random node now and then (SIGSTOP for `stallMsMin..stallMsMax`, then SIGCONT), reading
 * the other nodes' phi for it just before it continues, when that phi is at its highest.
 */
async function injectStalls(nodes: readonly ClusterNodeProcess[], running: () => boolean, stallMsMin: number, stallMsMax: number): Promise<{ stalls: number; maxPhi: number }> {
  let stalls = 0;
  let maxPhi = 0;
  let turn = 0;
  while (running()) {
    await sleep(2000 + (turn * 733) % 2000);
    if (!running()) break;
    const victim = nodes[turn % nodes.length]!;
    const stallMs = stallMsMin + ((turn * 389) % (stallMsMax - stallMsMin + 1));
    turn++;
    victim.process.child.kill('SIGSTOP');
    await sleep(stallMs - 150);
    for (const observer of nodes) {
      if (observer === victim) continue;
      const seen = (await members(observer).catch(() => [])).find((m) => m.name === victim.name);
      maxPhi = Math.max(maxPhi, seen?.phi ?? 0);
    }
    victim.process.child.kill('SIGCONT');
    stalls++;
  }
  return { stalls, maxPhi };
}

// In `npm test` the rest of the suite runs beside this test and is the background load; the busy
// loop per core, which would starve the other test files' clusters too, runs in the long version
// (`npm run test:faults`) only.
test.serial('a loaded machine (client load, 0.5-2 s stalls; a busy loop per core in the long run) makes no false suspicion', async (t) => {
  const durationMs = long ? 120_000 : 15_000;
  t.timeout(durationMs + 120_000);
  const nodes = await startThree();
  const burners = long ? startBurners() : [];
  let running = true;
  try {
    const startWallMs = Date.now();
    const lateness = timerLateness();
    const load = clientLoad(nodes, 6, () => running);
    const stalling = injectStalls(nodes, () => running, 500, 2000);
    let maxPhi = 0;
    let maxSilenceMs = 0;
    let maxStdDevMs = 0;
    let polls = 0;
    const notUp: string[] = [];
    const started = performance.now();
    while (performance.now() - started < durationMs) {
      await Promise.all(nodes.map(async (observer) => {
        const stats = await fetch(`${observer.url}/v1/stats`, { signal: AbortSignal.timeout(10_000) })
          .then((r) => r.json() as Promise<{ cluster: { liveness: { peer: string; phi: number; silenceMs: number; stdDevMs: number }[] } }>)
          .catch(() => undefined);
        for (const h of stats?.cluster.liveness ?? []) {
          maxPhi = Math.max(maxPhi, h.phi);
          maxSilenceMs = Math.max(maxSilenceMs, h.silenceMs);
          maxStdDevMs = Math.max(maxStdDevMs, h.stdDevMs);
        }
        for (const m of await members(observer).catch(() => [])) {
          maxPhi = Math.max(maxPhi, m.phi);
          if (m.liveness !== 'up') notUp.push(`${observer.name} saw ${m.name} ${m.liveness} (phi ${m.phi}) at ${Math.round(performance.now() - started)} ms`);
        }
      }));
      polls++;
      await sleep(250);
    }
    running = false;
    const [ops, stalled] = await Promise.all([load, stalling]);
    const loopLate = lateness.stop();
    const logged = nodes.flatMap((n) => suspicionsLogged(n, undefined, startWallMs).map((time) => `${n.name} at ${time - startWallMs} ms`));
    t.log(
      `${durationMs / 1000} s with ${burners.length} busy loops, ${ops} client operations and ${stalled.stalls} stalls of 0.5-2 s: ` +
        `highest phi at the end of a stall ${stalled.maxPhi.toFixed(2)}, highest phi in ${polls} polls of ${nodes.length} nodes ${maxPhi.toFixed(2)}, ` +
        `longest silence seen ${Math.round(maxSilenceMs)} ms, largest interval deviation ${Math.round(maxStdDevMs)} ms; ` +
        `a 100 ms timer in the test process fired up to ${loopLate.maxMs} ms late (p99 ${loopLate.p99Ms} ms); suspicions logged ${logged.length}, non-up views ${notUp.length}`,
    );
    t.deepEqual(logged, [], 'no node logged a suspicion');
    t.deepEqual(notUp, [], 'no status poll showed a member not up');
    t.true(ops > 100, `the client load ran (${ops} operations)`);
  } finally {
    running = false;
    for (const burner of burners) burner.kill('SIGKILL');
    for (const n of nodes) n.process.child.kill('SIGCONT');
    await stopAll(nodes);
  }
});

// A node whose own event loop was stopped for longer than detection takes (here 6 s) finds, when
// it continues, that it has heard nothing from its peers for 6 s: its first liveness check, which
// runs before it reads the heartbeats waiting in its sockets, convicts every peer (phi 20 and
// more) and routes requests around all of them for one liveness tick (100 ms), until the next
// check sees the heartbeats. docs/failure-detection.md ("The stall can be on either side") says
// the runtime should read pending input first or ignore suspicions raised right after its own
// loop was late; refreshLiveness in src/runtime/cluster/cluster-node.ts now skips judging peers
// on a tick that ran more than a second late (this test was a known failure until it did).
test.serial('a node continued after a 6 s SIGSTOP does not suspect its peers (the local-stall guard)', async (t) => {
  t.timeout(120_000);
  const nodes = await startThree();
  const c = nodes[2]!;
  try {
    await sleep(3000);
    c.process.child.kill('SIGSTOP');
    await sleep(6000);
    const resumeWallMs = Date.now();
    c.process.child.kill('SIGCONT');
    await sleep(1500);
    const suspected = suspicionsLogged(c, undefined, resumeWallMs);
    t.log(`the continued node logged ${suspected.length} suspicions, ${suspected.map((time) => time - resumeWallMs).join(', ')} ms after SIGCONT`);
    t.deepEqual(suspected, [], 'suspicions logged by the continued node');
  } finally {
    c.process.child.kill('SIGCONT');
    await stopAll(nodes);
  }
});
