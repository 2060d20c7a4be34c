/**
 * What sluice's server protection costs on the wire, and whether it holds memory flat under overload.
 *
 * 1. Overhead at no load: requests per second (autocannon, closed loop, 10 connections) through Fastify
 *    with the sluice plugin against plain Fastify on a hello-world route, and through `sluice proxy`
 *    against a plain undici proxy of the same shape, in front of one hello-world origin. Every server runs
 *    in its own child process, PROCESSES of each candidate: one process can settle in a slower state than
 *    another running the same code (how V8 sized its young generation at start-up was seen to move a
 *    hello world by 20 %), so a single process per candidate can decide the ratio by itself. Runs are
 *    interleaved over rounds and processes; reported are medians over all runs, per-process medians, the
 *    ratio of the medians, and the median and interquartile range of the ratios round by round (a round's
 *    runs are back to back, so what else this shared machine does moves both sides of its ratio alike; the
 *    spread shows how far one ratio can be trusted). Target: each ratio >= 0.95. Then one more process of
 *    each server runs under `--cpu-prof`: the share of its busy time spent in its request-handling code
 *    (sluice's, or the plain proxy's forwarder), in listeners and in GC. Shares within one process move far
 *    less with the machine's load than requests per second do, and the difference in share is a lower
 *    bound of sluice's cost when the server is the bottleneck.
 * 2. Memory at 10x overload: a `protect()`-guarded node:http gateway (child process) in front of a
 *    thread-pool downstream (SLOTS slots, 50 ms each), offered 10x the downstream's capacity by an
 *    open-loop generator (arrivals on a schedule, at most MAX_OUTSTANDING requests open; an arrival
 *    finding them all open is counted as skipped, never queued). The gateway's RSS and heapUsed are sampled
 *    every second, and its heap after a full collection at the start (after a warm-up) and at the end.
 *    Targets: the retained heap (after a full collection) and RSS (medians of the first and last 5 s, and
 *    the maximum) within +/-10% of the start.
 *
 * Run with `npm run bench:http` (`--quick` for a short smoke run). Writes
 * benchmarks/results/http-overhead.json (not with --quick).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { type ProfileShares, profileShares } from './lib/cpu-profile.ts';
import { environment, fixed, percent, quantile, summarise, table, writeJson } from './lib/harness.ts';
import {
  type MemoryReading,
  type RemoteServer,
  type ServerKind,
  type ServerOptions,
  spawnServer,
} from './lib/http-servers.ts';
import { spawnThreadPoolServer } from './lib/thread-pool-server.ts';

const quick = process.argv.includes('--quick');
// A control for the memory run: caps V8's young generation in the gateway (MB per semi-space), to tell
// the collector's own growth apart from state sluice keeps. Skips the overhead part; writes no results.
const semiSpace = process.argv.find((a) => a.startsWith('--semi-space='))?.slice('--semi-space='.length);
const gatewayFlags = semiSpace === undefined ? [] : [`--max-semi-space-size=${semiSpace}`];
const CONNECTIONS = 10;
const DURATION = quick ? 2 : 3;
const WARMUP = quick ? 1 : 2;
const ROUNDS = quick ? 2 : 8;
const PROCESSES = quick ? 1 : 2;

const SLOTS = 10;
const SERVICE_MS = 50;
const CAPACITY = (SLOTS * 1000) / SERVICE_MS;
const OVERLOAD = 10;
const OVERLOAD_WARMUP_S = quick ? 2 : 5;
const OVERLOAD_S = quick ? 10 : 60;
const MAX_OUTSTANDING = 512;
const CLIENT_TIMEOUT_MS = 5000;
const WINDOW = 5;
const TOLERANCE = 0.1;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Run {
  readonly rps: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
}

async function cannon(url: string, duration: number): Promise<Run> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration });
  return { rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts };
}

interface Candidate {
  readonly name: string;
  readonly servers: readonly RemoteServer[];
}

interface Measured {
  readonly process: number;
  readonly round: number;
  readonly run: Run;
}

/** Interleaved closed-loop runs over every process of every candidate; each round starts further on. */
async function overhead(candidates: readonly Candidate[]): Promise<Map<string, Measured[]>> {
  const runs = new Map<string, Measured[]>(candidates.map((c) => [c.name, []]));
  const slots = candidates.flatMap((c) => c.servers.map((server, process) => ({ c, server, process })));
  for (const { server } of slots) await cannon(server.url, WARMUP);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < slots.length; k++) {
      const { c, server, process } = slots[(round + k) % slots.length]!;
      runs.get(c.name)!.push({ process, round, run: await cannon(server.url, DURATION) });
    }
  }
  return runs;
}

interface OverheadRow {
  readonly name: string;
  readonly rps: number;
  /** Median req/s of each process. */
  readonly processes: readonly number[];
  readonly rounds: readonly number[];
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
}

function rows(runs: Map<string, Measured[]>): OverheadRow[] {
  return [...runs].map(([name, ms]) => {
    const rs = ms.map((m) => m.run);
    const byProcess = [...new Set(ms.map((m) => m.process))].map(
      (p) => summarise(ms.filter((m) => m.process === p).map((m) => m.run.rps)).median,
    );
    return {
      name,
      rps: summarise(rs.map((r) => r.rps)).median,
      processes: byProcess.map(Math.round),
      rounds: rs.map((r) => Math.round(r.rps)),
      p99: summarise(rs.map((r) => r.p99)).median,
      non2xx: rs.reduce((s, r) => s + r.non2xx, 0),
      errors: rs.reduce((s, r) => s + r.errors, 0),
    };
  });
}

interface LoadCounts {
  sent: number;
  skipped: number;
  ok: number;
  shed: number;
  other: number;
  errors: number;
}

/** Open-loop arrivals at `rate` per second, evenly spaced, until `stop()`. */
function openLoop(url: string, rate: number): { counts: LoadCounts; stop(): Promise<void> } {
  const pool = new Pool(url, { connections: MAX_OUTSTANDING, pipelining: 1 });
  const counts: LoadCounts = { sent: 0, skipped: 0, ok: 0, shed: 0, other: 0, errors: 0 };
  let outstanding = 0;
  let due = 0;
  const started = performance.now();
  const fire = (): void => {
    outstanding++;
    counts.sent++;
    pool
      .request({
        path: '/',
        method: 'GET',
        headersTimeout: CLIENT_TIMEOUT_MS,
        bodyTimeout: CLIENT_TIMEOUT_MS,
      })
      .then(
        async (res) => {
          await res.body.dump();
          if (res.statusCode === 200) counts.ok++;
          else if (res.statusCode === 503 || res.statusCode === 429) counts.shed++;
          else counts.other++;
        },
        () => {
          counts.errors++;
        },
      )
      .finally(() => {
        outstanding--;
      });
  };
  const timer = setInterval(() => {
    const target = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; due < target; due++) {
      if (outstanding < MAX_OUTSTANDING) fire();
      else counts.skipped++;
    }
  }, 1);
  return {
    counts,
    async stop() {
      clearInterval(timer);
      while (outstanding > 0) await sleep(20);
      await pool.close();
    },
  };
}

interface Sample {
  readonly t: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly newSpace: number;
  readonly oldSpace: number;
  readonly limit: number | undefined;
  readonly inflight: number | undefined;
  readonly queued: number | undefined;
}

const mb = (bytes: number): string => fixed(bytes / 2 ** 20, 1);

async function overload(): Promise<Record<string, unknown>> {
  const downstream = await spawnThreadPoolServer({
    slots: SLOTS,
    queue: 1000,
    service: { type: 'constant', value: SERVICE_MS },
    seed: 1,
  });
  const gateway = await spawnServer('gateway', {
    upstream: `http://127.0.0.1:${downstream.port}`,
    connections: 256,
    nodeFlags: gatewayFlags,
  });
  const rate = CAPACITY * OVERLOAD;
  const load = openLoop(gateway.url, rate);
  await sleep(OVERLOAD_WARMUP_S * 1000);
  const startGc = await gateway.memoryAfterGc();
  const samples: Sample[] = [];
  const began = performance.now();
  const sample = (m: MemoryReading): void => {
    samples.push({
      t: Math.round((performance.now() - began) / 100) / 10,
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      newSpace: m.spaces['new_space'] ?? 0,
      oldSpace: m.spaces['old_space'] ?? 0,
      limit: m.limit,
      inflight: m.inflight,
      queued: m.queued,
    });
  };
  const before = { ...load.counts };
  for (let s = 1; s <= OVERLOAD_S; s++) {
    await sleep(Math.max(0, began + s * 1000 - performance.now()));
    sample(await gateway.memory());
  }
  const endGc = await gateway.memoryAfterGc();
  const elapsed = (performance.now() - began) / 1000;
  const after = { ...load.counts };
  await load.stop();
  await gateway.close();
  await downstream.close();

  // Start and end are medians over the first and the last WINDOW samples: one sample lands anywhere on
  // the collector's sawtooth, a window sees its middle.
  const window = (from: number, key: 'rss' | 'heapUsed' | 'heapTotal'): number =>
    summarise(samples.slice(from, from + WINDOW).map((s) => s[key])).median;
  const tail = Math.max(0, samples.length - WINDOW);
  const memoryRows = (['rss', 'heapTotal', 'heapUsed'] as const).map((key) => {
    const start = window(0, key);
    const end = window(tail, key);
    const max = Math.max(...samples.map((s) => s[key]));
    return { key, start, end, max, endOverStart: end / start, maxOverStart: max / start };
  });
  const heapAfterGc = {
    start: startGc.heapUsed,
    end: endGc.heapUsed,
    endOverStart: endGc.heapUsed / startGc.heapUsed,
  };
  const delta = (k: keyof LoadCounts): number => (after[k] - before[k]) / elapsed;
  const offered = (after.sent + after.skipped - before.sent - before.skipped) / elapsed;
  const within = (r: number): boolean => r >= 1 - TOLERANCE && r <= 1 + TOLERANCE;
  const rssFlat = within(memoryRows[0]!.endOverStart) && within(memoryRows[0]!.maxOverStart);
  const heapFlat = within(heapAfterGc.endOverStart);

  table(
    `Gateway at ${OVERLOAD}x overload (capacity ${CAPACITY} req/s, target ${rate} req/s, ${OVERLOAD_S} s after ${OVERLOAD_WARMUP_S} s warm-up${gatewayFlags.length > 0 ? `, gateway ${gatewayFlags.join(' ')}` : ''}), per second`,
    ['', 'offered', 'sent', 'skipped', '200', 'shed 503/429', 'other', 'errors'],
    [
      [
        'req/s',
        fixed(offered, 0),
        fixed(delta('sent'), 0),
        fixed(delta('skipped'), 0),
        fixed(delta('ok'), 0),
        fixed(delta('shed'), 0),
        fixed(delta('other'), 0),
        fixed(delta('errors'), 0),
      ],
    ],
  );
  const every = Math.max(1, Math.floor(samples.length / 12));
  table(
    'Gateway memory (MB) and limiter over time',
    ['t (s)', 'rss', 'heapTotal', 'new space', 'old space', 'heapUsed', 'limit', 'inflight', 'queued'],
    samples
      .filter((_, i) => i % every === 0 || i === samples.length - 1)
      .map((s) => [
        fixed(s.t, 1),
        mb(s.rss),
        mb(s.heapTotal),
        mb(s.newSpace),
        mb(s.oldSpace),
        mb(s.heapUsed),
        fixed(s.limit ?? Number.NaN, 1),
        String(s.inflight ?? ''),
        String(s.queued ?? ''),
      ]),
  );
  table(
    `Gateway memory: start (median of first ${WINDOW} s after warm-up) vs end (last ${WINDOW} s) vs max`,
    ['', 'start MB', 'end MB', 'max MB', 'end/start', 'max/start'],
    [
      ...memoryRows.map((r) => [
        r.key,
        mb(r.start),
        mb(r.end),
        mb(r.max),
        fixed(r.endOverStart, 3),
        fixed(r.maxOverStart, 3),
      ]),
      [
        'heapUsed after full GC',
        mb(heapAfterGc.start),
        mb(heapAfterGc.end),
        '',
        fixed(heapAfterGc.endOverStart, 3),
        '',
      ],
    ],
  );
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  console.log(
    `\nretained heap (after full GC) end/start within +/-10%: ${verdict(heapFlat)}` +
      `\nrss end/start and max/start within +/-10%: ${verdict(rssFlat)}` +
      (offered < rate * 0.9
        ? `\n(note: the generator reached only ${fixed(offered / CAPACITY, 1)}x capacity)`
        : ''),
  );
  return {
    capacity: CAPACITY,
    targetRate: rate,
    offeredRate: offered,
    seconds: OVERLOAD_S,
    warmupSeconds: OVERLOAD_WARMUP_S,
    perSecond: {
      sent: delta('sent'),
      skipped: delta('skipped'),
      ok: delta('ok'),
      shed: delta('shed'),
      other: delta('other'),
      errors: delta('errors'),
    },
    startAfterGc: startGc,
    endAfterGc: endGc,
    memory: memoryRows,
    heapAfterGc,
    retainedHeapFlat: heapFlat,
    rssFlat,
    samples,
  };
}

/**
 * The candidate's requests per second over the baseline's, round by round (each round's runs are
 * back to back, so a change in what else the machine is doing moves both sides of a ratio alike): the
 * median of the rounds' ratios and its interquartile range.
 */
function pairedRatios(
  runs: Map<string, Measured[]>,
  base: string,
): { median: number; q1: number; q3: number } {
  const mean = (ms: Measured[], round: number): number => {
    const rs = ms.filter((m) => m.round === round).map((m) => m.run.rps);
    return rs.reduce((a, b) => a + b, 0) / rs.length;
  };
  const baseRuns = runs.get(base)!;
  const other = [...runs].find(([name]) => name !== base)![1];
  const ratios = Array.from({ length: ROUNDS }, (_, round) => mean(other, round) / mean(baseRuns, round));
  ratios.sort((a, b) => a - b);
  return { median: quantile(ratios, 0.5), q1: quantile(ratios, 0.25), q3: quantile(ratios, 0.75) };
}

function overheadTable(title: string, result: OverheadRow[], base: string): number {
  const baseline = result.find((r) => r.name === base)!.rps;
  table(
    title,
    ['server', 'req/s (median)', 'per process', 'runs', 'p99 ms', 'non-2xx', 'errors', 'vs plain'],
    result.map((r) => [
      r.name,
      fixed(r.rps, 0),
      r.processes.join(' / '),
      r.rounds.join(' / '),
      fixed(r.p99, 1),
      String(r.non2xx),
      String(r.errors),
      percent(r.rps / baseline),
    ]),
  );
  const other = result.find((r) => r.name !== base)!;
  return other.rps / baseline;
}

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
/** The plain proxy's forwarding code, to set against the sluice proxy's. */
const PLAIN_PROXY = fileURLToPath(new URL('./lib/http-servers.ts', import.meta.url));
const PROFILE_SECONDS = quick ? 2 : 8;

interface Profiled extends ProfileShares {
  readonly name: string;
  readonly requests: number;
  /**
   * Busy time of the server per request (µs): samples not idle, including time the process was ready but
   * not running (the load generator shares the two cores), so it moves with the machine's load.
   */
  readonly busyUsPerRequest: number;
}

/**
 * One more process of `kind` under `--cpu-prof`, loaded for PROFILE_SECONDS: how its busy time splits
 * between the request-handling code in `code` (files or directories), listeners, the collector and the rest.
 */
async function profiled(
  kind: ServerKind,
  options: ServerOptions,
  code: readonly string[],
): Promise<Profiled> {
  const dir = mkdtempSync(join(tmpdir(), `sluice-${kind}-`));
  try {
    const server = await spawnServer(kind, {
      ...options,
      nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    });
    // Every request the process served counts: the profile covers the warm-up too.
    const warm = await autocannon({ url: server.url, connections: CONNECTIONS, duration: WARMUP });
    const r = await autocannon({ url: server.url, connections: CONNECTIONS, duration: PROFILE_SECONDS });
    await server.close();
    const shares = profileShares(dir, code);
    const requests = warm.requests.total + r.requests.total;
    return { name: kind, ...shares, requests, busyUsPerRequest: (shares.busyMs * 1000) / requests };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * sluice's cost read from CPU profiles: the share of the server's busy time its code takes beyond the plain
 * server's own request-handling code, plus what it adds to listener dispatch and collection. A lower bound
 * of the slowdown it causes when the server is the bottleneck (the framework's hook dispatch is not counted).
 */
function profileTable(title: string, plain: Profiled, sluice: Profiled): number {
  const estimate =
    Math.max(0, sluice.code - plain.code) +
    Math.max(0, sluice.events - plain.events) +
    Math.max(0, sluice.gc - plain.gc);
  table(
    title,
    ['server', 'requests', 'busy µs/request', 'own code', 'node:events', 'GC'],
    [plain, sluice].map((p) => [
      p.name,
      String(p.requests),
      fixed(p.busyUsPerRequest, 1),
      `${fixed(p.code * 100, 2)}%`,
      `${fixed(p.events * 100, 2)}%`,
      `${fixed(p.gc * 100, 2)}%`,
    ]),
  );
  console.log(
    `  sluice's code ${fixed(sluice.code * 100, 2)}% of the server's busy time (the plain server's` +
      ` ${fixed(plain.code * 100, 2)}%); with what it adds to listeners and GC, ${fixed(estimate * 100, 2)}%` +
      ` more. Top: ${sluice.top.map((t) => `${t.name} ${fixed(t.share * 100, 2)}%`).join(', ')}`,
  );
  return estimate;
}

async function overheads(): Promise<Record<string, unknown>> {
  const spawn = async (kind: ServerKind, options?: ServerOptions): Promise<Candidate> => {
    const servers: RemoteServer[] = [];
    for (let i = 0; i < PROCESSES; i++) servers.push(await spawnServer(kind, options));
    return { name: kind, servers };
  };
  const origin = await spawnServer('hello');
  const fastifyPlain = await spawn('fastify-plain');
  const fastifySluice = await spawn('fastify-sluice');
  const proxyPlain = await spawn('proxy-plain', { upstream: origin.url });
  const proxySluice = await spawn('proxy-sluice', { upstream: origin.url });

  console.log(
    `Overhead at no load: autocannon, ${CONNECTIONS} connections, ${DURATION} s per run, ${ROUNDS} interleaved rounds over ${PROCESSES} process(es) per server`,
  );
  const fastifyMeasured = await overhead([fastifyPlain, fastifySluice]);
  const fastifyRuns = rows(fastifyMeasured);
  const fastifyRatio = overheadTable('Fastify hello world', fastifyRuns, 'fastify-plain');
  const fastifyPaired = pairedRatios(fastifyMeasured, 'fastify-plain');
  const proxyMeasured = await overhead([proxyPlain, proxySluice]);
  const proxyRuns = rows(proxyMeasured);
  const proxyPaired = pairedRatios(proxyMeasured, 'proxy-plain');
  const proxyRatio = overheadTable(
    'Reverse proxy in front of a hello-world origin',
    proxyRuns,
    'proxy-plain',
  );
  console.log(
    `\nCPU profiles: one more process of each server under --cpu-prof, ${PROFILE_SECONDS} s of load`,
  );
  const fastifyProfiles = [
    await profiled('fastify-plain', {}, []),
    await profiled('fastify-sluice', {}, [SRC]),
  ] as const;
  const fastifyShare = profileTable('Fastify hello world, CPU profile', ...fastifyProfiles);
  const proxyOptions = { upstream: origin.url };
  const proxyProfiles = [
    await profiled('proxy-plain', proxyOptions, [PLAIN_PROXY]),
    await profiled('proxy-sluice', proxyOptions, [SRC]),
  ] as const;
  const proxyShare = profileTable(
    "Reverse proxy, CPU profile (own code: the plain proxy's forwarder, all of sluice's)",
    ...proxyProfiles,
  );
  const all = [origin, ...[fastifyPlain, fastifySluice, proxyPlain, proxySluice].flatMap((c) => c.servers)];
  await Promise.all(all.map((s) => s.close()));
  console.log(
    `\nFastify plugin >= 95% of plain: ${fixed(fastifyRatio * 100, 1)}% ${fastifyRatio >= 0.95 ? 'PASS' : 'FAIL'}` +
      `\nsluice proxy >= 95% of plain undici proxy: ${fixed(proxyRatio * 100, 1)}% ${proxyRatio >= 0.95 ? 'PASS' : 'FAIL'}`,
  );
  const spread = (p: { median: number; q1: number; q3: number }): string =>
    `${fixed(p.median * 100, 1)}% (interquartile ${fixed(p.q1 * 100, 1)}-${fixed(p.q3 * 100, 1)}%)`;
  console.log(
    `Round by round (median of ${ROUNDS} paired ratios): Fastify plugin ${spread(fastifyPaired)}, proxy ${spread(proxyPaired)}`,
  );
  return {
    connections: CONNECTIONS,
    durationSeconds: DURATION,
    rounds: ROUNDS,
    processes: PROCESSES,
    fastify: {
      runs: fastifyRuns,
      ratio: fastifyRatio,
      paired: fastifyPaired,
      pass: fastifyRatio >= 0.95,
      profiles: fastifyProfiles,
      profileShare: fastifyShare,
    },
    proxy: {
      runs: proxyRuns,
      ratio: proxyRatio,
      paired: proxyPaired,
      pass: proxyRatio >= 0.95,
      profiles: proxyProfiles,
      profileShare: proxyShare,
    },
  };
}

const overheadResult = semiSpace === undefined ? await overheads() : undefined;
const memory = await overload();

if (!quick && overheadResult !== undefined) {
  writeJson(new URL('./results/http-overhead.json', import.meta.url), {
    environment: environment(),
    overhead: overheadResult,
    memory,
  });
}
