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
 *    bound of sluice's cost when the server is the bottleneck. Last, simultaneous runs (where `taskset` can
 *    pin processes to cores): both servers of a comparison under load at once, sharing one core, each driven
 *    by its own autocannon process on the other core, so that the machine's other work slows both alike at
 *    every moment (see `duel`), with plain Fastify against itself as the method's control. The verdicts
 *    give the simultaneous ratio first, the interleaved one after.
 * 2. Memory at 10x overload: a `protect()`-guarded node:http gateway (child process) in front of a
 *    thread-pool downstream (SLOTS slots, 50 ms each), offered 10x the downstream's capacity by an
 *    open-loop generator (arrivals on a schedule, at most MAX_OUTSTANDING requests open; an arrival
 *    finding them all open is counted as skipped, never queued). The gateway's RSS, heap and V8 heap spaces
 *    are sampled every second from the end of a 5 s warm-up, with a full collection in the gateway at the
 *    start and end of each of two 60 s windows:
 *    (a) from the end of the warm-up;
 *    (b) from when V8's young generation has settled at its ceiling: V8 grows the new space by doublings up
 *        to a ceiling set by its flags alone, and RSS follows a doubling only as V8 first writes the new
 *        pages. At this load the last doubling (64 -> 128 MB) was seen 50 s into the run, so (a) measures
 *        that one-time warm-up of the runtime along with what the gateway holds. The ceiling is calibrated
 *        first, in a short child run with the gateway's flags (`node -e` with an allocation loop that keeps
 *        enough alive for V8 to keep doubling); (b) starts at the first sample at which the new space has
 *        been at that size for SETTLE_S s, with its written (physical) size at least SETTLE_SHARE of it and
 *        grown by less than SETTLE_BYTES over those seconds.
 *        The wait is capped at CEILING_WAIT_S s after the warm-up; when it runs out, (b) is not measured and
 *        the verdict falls back on (a). The windows overlap, so one's boundary collections fall inside the
 *        other.
 *    Target, judged on (b) (the verdict of (a) is printed too): the retained heap (heapUsed after a full
 *    collection, end over start) and RSS (medians of the first and last 5 s of the window, and the maximum)
 *    within +/-10% of the start. The timeline printed covers the whole run, with the new space's size and
 *    written part, so the step shows.
 *    With `--memory-control`, the same measurement follows on a plain gateway (the same forwarder and
 *    connection pool, no `protect()`), the control: it cannot shed, so its requests pile up to the
 *    generator's MAX_OUTSTANDING, in its pool and the downstream's queue. Off by default: it adds 1.5 min
 *    (up to 3.6 min when the young generation does not settle).
 *
 * Run with `npm run bench:http` (`--quick` for a short smoke run, which waits at most 15 s for the young
 * generation). Writes benchmarks/results/http-overhead.json (not with --quick, --memory-only or
 * --semi-space). Flags beyond --quick do not pass through `npm run bench`; run the file directly:
 * `sh scripts/use-node.sh node --expose-gc benchmarks/http-overhead.bench.ts [--memory-only]
 * [--memory-control] [--semi-space=N] [--quick]`. `--memory-only` skips the overhead part; `--semi-space=N`
 * caps the gateway's young generation (`--max-semi-space-size=N`) and also skips it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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
// Runs only the memory part; writes no results (the results file holds one whole run).
const memoryOnly = process.argv.includes('--memory-only');
// Adds the memory part's control, a plain gateway without sluice (1.5 to 3.6 minutes more).
const memoryControl = process.argv.includes('--memory-control');
const execFileAsync = promisify(execFile);
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
/** Longest wait, after the warm-up, for the gateway's young generation to settle at its ceiling. */
const CEILING_WAIT_S = quick ? 15 : 150;
/** The memory timeline prints every TIMELINE_EVERY-th second (and every change of the new space). */
const TIMELINE_EVERY = 5;
/**
 * When the young generation counts as settled: its size at the ceiling for SETTLE_S s, the part of it V8
 * has written (its physical size; on Linux, what is resident) at least SETTLE_SHARE of it, and grown by
 * less than SETTLE_BYTES over those SETTLE_S s. RSS follows a doubling of the new space only as V8 first
 * writes the new pages: 7 s for the sluice gateway, 15 s for the plain one, which allocates more slowly.
 * Not all of it gets written: V8 schedules a minor GC task once the new space is 80% full (its flags
 * --minor-gc-task, --minor-gc-task-trigger=80), so under load the written part levels off at 80-100% of
 * the space (81% seen here at 64 and at 128 MB). The share keeps a pause in the writing while it is still
 * far below that (seen: 3 s at 41%) from passing for the end.
 */
const SETTLE_S = 3;
const SETTLE_SHARE = 0.75;
const SETTLE_BYTES = 2 ** 20;
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
function openLoop(
  url: string,
  rate: number,
): { counts: LoadCounts; outstanding(): number; stop(): Promise<void> } {
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
    outstanding: () => outstanding,
    async stop() {
      clearInterval(timer);
      while (outstanding > 0) await sleep(20);
      await pool.close();
    },
  };
}

/**
 * A survival-heavy allocation loop for `node -e`: every scavenge finds the last CALIBRATION_RING
 * allocations alive, which is what makes V8 grow its young generation (it doubles the new space once the
 * bytes that survived scavenges since the last growth exceed its size), up to the ceiling its flags allow.
 * Prints the new space size at each growth, once it has not grown for CALIBRATION_STALL_MS (or after
 * CALIBRATION_MAX_MS): about 0.7 s in all, 128 MB reached in 0.3 s with Node 24's default flags. A larger
 * ring (a few hundred thousand) was seen to stop at 32 or 64 MB.
 */
const CALIBRATION_RING = 50_000;
const CALIBRATION_STALL_MS = 400;
const CALIBRATION_MAX_MS = 1500;
const CALIBRATION = `
const v8 = process.getBuiltinModule('node:v8');
const size = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const start = performance.now();
const steps = [[0, size()]];
let grown = start;
const ring = new Array(${CALIBRATION_RING});
for (let i = 0; performance.now() - start < ${CALIBRATION_MAX_MS} && performance.now() - grown < ${CALIBRATION_STALL_MS}; ) {
  for (let k = 0; k < 10000; k++, i++) ring[i % ring.length] = { i, list: [i] };
  const s = size();
  if (s > steps[steps.length - 1][1]) {
    steps.push([Math.round(performance.now() - start), s]);
    grown = performance.now();
  }
}
process.stdout.write(JSON.stringify({
  ms: Math.round(performance.now() - start),
  steps,
  heapSizeLimit: v8.getHeapStatistics().heap_size_limit,
}));
`;

interface YoungCeiling {
  /** Largest new space size (bytes) the loop reached: the young generation's ceiling under `flags`. */
  readonly bytes: number;
  /** How long the loop ran (ms), and the new space size at each growth ([ms, bytes]). */
  readonly ms: number;
  readonly steps: readonly (readonly [number, number])[];
  readonly heapSizeLimit: number;
  readonly flags: readonly string[];
}

/** The young generation's ceiling under the gateway's flags, measured in a short child process. */
async function youngCeiling(): Promise<YoungCeiling> {
  const flags = ['--expose-gc', ...gatewayFlags];
  const { stdout } = await execFileAsync(process.execPath, [...flags, '-e', CALIBRATION], {
    timeout: 10_000,
  });
  const r = JSON.parse(stdout) as { ms: number; steps: [number, number][]; heapSizeLimit: number };
  return { bytes: Math.max(...r.steps.map((s) => s[1])), ...r, flags };
}

interface Sample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly newSpace: number;
  /** The new space's physical size: how much of it V8 has written, i.e. is resident. */
  readonly newSpacePhysical: number;
  readonly oldSpace: number;
  readonly limit: number | undefined;
  readonly inflight: number | undefined;
  readonly queued: number | undefined;
  /** Requests the gateway's pool holds towards the downstream. */
  readonly upstreamOpen: number | undefined;
  /** Requests the generator has open to the gateway. */
  readonly open: number;
  /** Requests waiting in the downstream's queue (besides the SLOTS in service). */
  readonly downstreamQueued: number;
}

/** A window boundary: a full collection in the gateway, and the generator's counts, at `t`. */
interface Boundary {
  readonly t: number;
  /** Index of the first sample after the boundary. */
  readonly index: number;
  readonly gc: MemoryReading;
  readonly counts: LoadCounts;
}

interface MemoryRow {
  readonly key: 'rss' | 'heapTotal' | 'newSpace' | 'newSpacePhysical' | 'heapUsed';
  readonly start: number;
  readonly end: number;
  readonly max: number;
  readonly endOverStart: number;
  readonly maxOverStart: number;
}

interface WindowResult {
  /** Seconds since the load started. */
  readonly from: number;
  readonly to: number;
  readonly offeredRate: number;
  readonly perSecond: Readonly<Record<keyof LoadCounts, number>>;
  readonly startAfterGc: MemoryReading;
  readonly endAfterGc: MemoryReading;
  /** Start and end are medians of the window's first and last WINDOW samples. */
  readonly memory: readonly MemoryRow[];
  readonly heapAfterGc: { readonly start: number; readonly end: number; readonly endOverStart: number };
  readonly retainedHeapFlat: boolean;
  readonly rssFlat: boolean;
}

interface GatewayRun {
  readonly kind: ServerKind;
  /** Seconds since the load started at which new space first reached the ceiling; undefined if never. */
  readonly ceilingReachedAt: number | undefined;
  /** ... and at which it had settled there (see SETTLE_S); undefined if never. */
  readonly ceilingSettledAt: number | undefined;
  /** Every change of the new space size over the run: [t, bytes before, bytes after]. */
  readonly newSpaceSteps: readonly (readonly [number, number, number])[];
  /** (a): from the end of the warm-up. */
  readonly afterWarmup: WindowResult;
  /** (b): from when the young generation had settled at its ceiling; undefined if it never did. */
  readonly afterYoungCeiling: WindowResult | undefined;
  readonly samples: readonly Sample[];
}

const mb = (bytes: number): string => fixed(bytes / 2 ** 20, 1);
const newSpaceOf = (m: MemoryReading): number => m.spaces['new_space'] ?? 0;
/** Whether the young generation has settled at `ceiling` by the last of `samples` (see SETTLE_S). */
function youngSettled(samples: readonly Sample[], ceiling: number): boolean {
  const xs = samples.slice(-(SETTLE_S + 1));
  const last = xs[xs.length - 1];
  return (
    last !== undefined &&
    xs.length === SETTLE_S + 1 &&
    xs.every((s) => s.newSpace >= ceiling) &&
    last.newSpacePhysical >= SETTLE_SHARE * last.newSpace &&
    last.newSpacePhysical - xs[0]!.newSpacePhysical < SETTLE_BYTES
  );
}
const within = (r: number): boolean => r >= 1 - TOLERANCE && r <= 1 + TOLERANCE;

function windowResult(samples: readonly Sample[], from: Boundary, to: Boundary): WindowResult {
  const xs = samples.slice(from.index, to.index);
  const elapsed = to.t - from.t;
  // Start and end are medians over the first and the last WINDOW samples: one sample lands anywhere on
  // the collector's sawtooth, a window sees its middle.
  const median = (ys: readonly Sample[], key: MemoryRow['key']): number =>
    summarise(ys.map((s) => s[key])).median;
  const memory = (['rss', 'heapTotal', 'newSpace', 'newSpacePhysical', 'heapUsed'] as const).map(
    (key): MemoryRow => {
      const start = median(xs.slice(0, WINDOW), key);
      const end = median(xs.slice(-WINDOW), key);
      const max = Math.max(...xs.map((s) => s[key]));
      return { key, start, end, max, endOverStart: end / start, maxOverStart: max / start };
    },
  );
  const heapAfterGc = {
    start: from.gc.heapUsed,
    end: to.gc.heapUsed,
    endOverStart: to.gc.heapUsed / from.gc.heapUsed,
  };
  const delta = (k: keyof LoadCounts): number => (to.counts[k] - from.counts[k]) / elapsed;
  const rss = memory[0]!;
  return {
    from: from.t,
    to: to.t,
    offeredRate: delta('sent') + delta('skipped'),
    perSecond: {
      sent: delta('sent'),
      skipped: delta('skipped'),
      ok: delta('ok'),
      shed: delta('shed'),
      other: delta('other'),
      errors: delta('errors'),
    },
    startAfterGc: from.gc,
    endAfterGc: to.gc,
    memory,
    heapAfterGc,
    retainedHeapFlat: within(heapAfterGc.endOverStart),
    rssFlat: within(rss.endOverStart) && within(rss.maxOverStart),
  };
}

/**
 * One gateway of `kind` at OVERLOAD x capacity: warm-up, then a sample every second until both windows
 * are complete: (a) OVERLOAD_S seconds from the end of the warm-up, and (b) OVERLOAD_S seconds from the
 * first sample at which the young generation has settled at `ceiling` (waited for at most CEILING_WAIT_S
 * seconds after the warm-up). Each window starts and ends with a full collection in the gateway.
 */
async function measure(kind: ServerKind, ceiling: number): Promise<GatewayRun> {
  const downstream = await spawnThreadPoolServer({
    slots: SLOTS,
    queue: 1000,
    service: { type: 'constant', value: SERVICE_MS },
    seed: 1,
  });
  const gateway = await spawnServer(kind, {
    upstream: `http://127.0.0.1:${downstream.port}`,
    connections: 256,
    nodeFlags: gatewayFlags,
  });
  const samples: Sample[] = [];
  const started = performance.now();
  const seconds = (): number => Math.round((performance.now() - started) / 100) / 10;
  const load = openLoop(gateway.url, CAPACITY * OVERLOAD);
  const mark = async (): Promise<Boundary> => {
    const gc = await gateway.memoryAfterGc();
    return { t: seconds(), index: samples.length, gc, counts: { ...load.counts } };
  };
  await sleep(OVERLOAD_WARMUP_S * 1000);
  const aFrom = await mark();
  let aTo: Boundary | undefined;
  let ceilingReachedAt = newSpaceOf(aFrom.gc) >= ceiling ? aFrom.t : undefined;
  let bFrom: Boundary | undefined;
  let bTo: Boundary | undefined;
  let ceilingSettledAt: number | undefined;
  const warm = performance.now();
  // The downstream's first stats() opens its measurement window; only its queue depth is used.
  await downstream.stats();
  for (let s = 1; ; s++) {
    await sleep(Math.max(0, warm + s * 1000 - performance.now()));
    const [m, d] = await Promise.all([gateway.memory(), downstream.stats()]);
    const sample: Sample = {
      t: seconds(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      newSpace: newSpaceOf(m),
      newSpacePhysical: m.physicalSpaces['new_space'] ?? 0,
      oldSpace: m.spaces['old_space'] ?? 0,
      limit: m.limit,
      inflight: m.inflight,
      queued: m.queued,
      upstreamOpen: m.upstreamOpen,
      open: load.outstanding(),
      downstreamQueued: d.queued,
    };
    samples.push(sample);
    if (aTo === undefined && samples.length - aFrom.index >= OVERLOAD_S) {
      aTo = await mark();
    }
    if (ceilingReachedAt === undefined && sample.newSpace >= ceiling) ceilingReachedAt = sample.t;
    if (bFrom === undefined && youngSettled(samples, ceiling)) {
      ceilingSettledAt = sample.t;
      bFrom = await mark();
    }
    if (bFrom !== undefined && bTo === undefined && samples.length - bFrom.index >= OVERLOAD_S) {
      bTo = await mark();
    }
    const waited = bFrom !== undefined || s >= CEILING_WAIT_S;
    if (aTo !== undefined && waited && (bFrom === undefined || bTo !== undefined)) break;
  }
  await load.stop();
  await gateway.close();
  await downstream.close();

  const newSpaceSteps: [number, number, number][] = [];
  let previous = newSpaceOf(aFrom.gc);
  for (const s of samples) {
    if (s.newSpace !== previous) newSpaceSteps.push([s.t, previous, s.newSpace]);
    previous = s.newSpace;
  }
  return {
    kind,
    ceilingReachedAt,
    ceilingSettledAt,
    newSpaceSteps,
    afterWarmup: windowResult(samples, aFrom, aTo!),
    afterYoungCeiling: bFrom === undefined ? undefined : windowResult(samples, bFrom, bTo!),
    samples,
  };
}

const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
/** How the new space changed size over the run, as a phrase. */
const stepsText = (run: GatewayRun): string =>
  run.newSpaceSteps.length === 0
    ? `new space unchanged at ${mb(newSpaceOf(run.afterWarmup.startAfterGc))} MB`
    : `new space ${run.newSpaceSteps.map(([t, a, b]) => `${mb(a)} -> ${mb(b)} MB at t = ${fixed(t, 0)} s`).join(', ')}`;
const span = (w: WindowResult): string => `t = ${fixed(w.from, 1)}-${fixed(w.to, 1)} s`;
/** When the young generation reached its ceiling, and when it had settled there. */
function ceilingText(run: GatewayRun, ceiling: YoungCeiling): string {
  const top = `${mb(ceiling.bytes)} MB`;
  if (run.ceilingReachedAt === undefined) {
    const largest = Math.max(...run.samples.map((s) => s.newSpace));
    return `new space never reached its ceiling (${top}) within ${CEILING_WAIT_S} s after the warm-up (largest ${mb(largest)} MB)`;
  }
  const reached = `new space at its ceiling (${top}) from t = ${fixed(run.ceilingReachedAt, 1)} s`;
  const settled = run.samples.find((s) => s.t === run.ceilingSettledAt);
  return settled === undefined
    ? `${reached}, but its written part had not levelled off at ${percent(SETTLE_SHARE)} or more of it` +
        ` within ${CEILING_WAIT_S} s after the warm-up`
    : `${reached}, settled from t = ${fixed(settled.t, 1)} s (${mb(settled.newSpacePhysical)} MB of it` +
        ` written, ${percent(settled.newSpacePhysical / settled.newSpace)}, grown by less than` +
        ` ${mb(SETTLE_BYTES)} MB over ${SETTLE_S} s)`;
}

const rowName: Readonly<Record<MemoryRow['key'], string>> = {
  rss: 'rss',
  heapTotal: 'heapTotal',
  newSpace: 'new space',
  newSpacePhysical: 'new space written',
  heapUsed: 'heapUsed',
};

/** Prints one gateway's run: load, the timeline, and both windows. */
function report(run: GatewayRun, title: string, ceiling: YoungCeiling): void {
  const windows = [
    ['(a) after warm-up', run.afterWarmup],
    ['(b) after young gen. ceiling', run.afterYoungCeiling],
  ] as const;
  table(
    `${title}: load per second (target ${CAPACITY * OVERLOAD} req/s, capacity ${CAPACITY} req/s)`,
    ['window', 'span', 'offered', 'sent', 'skipped', '200', 'shed 503/429', 'other', 'errors'],
    windows.flatMap(([name, w]) =>
      w === undefined
        ? []
        : [
            [
              name,
              span(w),
              fixed(w.offeredRate, 0),
              fixed(w.perSecond.sent, 0),
              fixed(w.perSecond.skipped, 0),
              fixed(w.perSecond.ok, 0),
              fixed(w.perSecond.shed, 0),
              fixed(w.perSecond.other, 0),
              fixed(w.perSecond.errors, 0),
            ],
          ],
    ),
  );
  // The whole timeline: every TIMELINE_EVERY s, every second at which the new space changed size or was
  // being written after reaching the ceiling, and the window boundaries (the JSON holds every second).
  const a = run.afterWarmup;
  const b = run.afterYoungCeiling;
  const next = (i: number): number => run.samples[i + 1]?.t ?? Number.POSITIVE_INFINITY;
  const marks = (s: Sample, i: number): string => {
    const out: string[] = [];
    if (i === 0) out.push(`(a) from t = ${fixed(a.from, 1)}`);
    if (run.ceilingReachedAt === s.t) out.push('new space at ceiling');
    if (b !== undefined && s.t <= b.from && next(i) > b.from) {
      out.push(`new space settled; (b) from t = ${fixed(b.from, 1)}`);
    }
    if (s.t < a.to && next(i) >= a.to) out.push('(a) ends');
    if (b !== undefined && s.t < b.to && next(i) >= b.to) out.push('(b) ends');
    return out.join('; ');
  };
  const filling = (s: Sample): boolean =>
    run.ceilingReachedAt !== undefined &&
    s.t >= run.ceilingReachedAt &&
    s.t <= (run.ceilingSettledAt ?? Number.POSITIVE_INFINITY);
  const shown = run.samples
    .map((s, i) => ({ s, i, mark: marks(s, i) }))
    .filter(
      ({ s, i, mark }) =>
        i % TIMELINE_EVERY === TIMELINE_EVERY - 1 ||
        mark !== '' ||
        filling(s) ||
        s.newSpace !== (run.samples[i - 1]?.newSpace ?? s.newSpace) ||
        i === run.samples.length - 1,
    );
  const blank = (n: number | undefined, digits = 0): string => (n === undefined ? '' : fixed(n, digits));
  table(
    `${title}: memory (MB) over time, t in s since the load started (every ${TIMELINE_EVERY} s, every second` +
      ' at which the new space changed size or was settling at its ceiling; a full collection at' +
      ' each window boundary; "written": its physical size)',
    [
      't',
      'rss',
      'heapTotal',
      'new space',
      'written',
      'old space',
      'heapUsed',
      'limit',
      'inflight',
      'queued',
      'to downstr.',
      'open',
      'downstr. queue',
      '',
    ],
    shown.map(({ s, mark }) => [
      fixed(s.t, 1),
      mb(s.rss),
      mb(s.heapTotal),
      mb(s.newSpace),
      mb(s.newSpacePhysical),
      mb(s.oldSpace),
      mb(s.heapUsed),
      blank(s.limit, 1),
      blank(s.inflight),
      blank(s.queued),
      blank(s.upstreamOpen),
      String(s.open),
      String(s.downstreamQueued),
      mark,
    ]),
  );
  for (const [name, w] of windows) {
    if (w === undefined) continue;
    table(
      `${title}, window ${name} (${span(w)}): start (median of its first ${WINDOW} s) vs end (last ${WINDOW} s) vs max`,
      ['', 'start MB', 'end MB', 'max MB', 'end/start', 'max/start'],
      [
        ...w.memory.map((r) => [
          rowName[r.key],
          mb(r.start),
          mb(r.end),
          mb(r.max),
          fixed(r.endOverStart, 3),
          fixed(r.maxOverStart, 3),
        ]),
        [
          'heapUsed after full GC',
          mb(w.heapAfterGc.start),
          mb(w.heapAfterGc.end),
          '',
          fixed(w.heapAfterGc.endOverStart, 3),
          '',
        ],
      ],
    );
  }
  console.log(`\n${title}: ${stepsText(run)}; ${ceilingText(run, ceiling)}`);
}

/** Window flatness as one line: ratios and verdicts (or, for the control, which has no target, words). */
function flatness(name: string, w: WindowResult, target = true): string {
  const rss = w.memory[0]!;
  const word = (ok: boolean): string => (target ? verdict(ok) : ok ? 'within +/-10%' : 'outside +/-10%');
  return (
    `${name} (${span(w)}): retained heap (after full GC) end/start ${fixed(w.heapAfterGc.endOverStart, 3)}` +
    ` ${word(w.retainedHeapFlat)}; rss end/start ${fixed(rss.endOverStart, 3)}, max/start` +
    ` ${fixed(rss.maxOverStart, 3)} ${word(w.rssFlat)}`
  );
}

function runJson(run: GatewayRun): Record<string, unknown> {
  return {
    kind: run.kind,
    ceilingReachedAt: run.ceilingReachedAt ?? null,
    ceilingSettledAt: run.ceilingSettledAt ?? null,
    newSpaceSteps: run.newSpaceSteps,
    windows: { afterWarmup: run.afterWarmup, afterYoungCeiling: run.afterYoungCeiling ?? null },
    samples: run.samples,
  };
}

async function overload(): Promise<Record<string, unknown>> {
  const ceiling = await youngCeiling();
  const flagsText = gatewayFlags.length > 0 ? `, gateway ${gatewayFlags.join(' ')}` : '';
  console.log(
    `\nMemory at ${OVERLOAD}x overload (${OVERLOAD_S} s windows after a ${OVERLOAD_WARMUP_S} s warm-up${flagsText})` +
      `\nYoung generation ceiling, calibrated in a child (node ${ceiling.flags.join(' ')} -e <allocation loop>,` +
      ` heap limit ${fixed(ceiling.heapSizeLimit / 2 ** 20, 0)} MB): new space grew` +
      ` ${ceiling.steps.map(([ms, bytes]) => `${mb(bytes)}@${ms}ms`).join(' ')} and stayed at` +
      ` ${mb(ceiling.bytes)} MB (${ceiling.ms} ms)`,
  );
  const run = await measure('gateway', ceiling.bytes);
  report(run, 'sluice gateway', ceiling);
  const a = run.afterWarmup;
  const b = run.afterYoungCeiling;
  const judged = b ?? a;
  const name = b === undefined ? '(a)' : '(b)';
  const newSpace = judged.memory.find((r) => r.key === 'newSpace')!;
  console.log(
    `\nTarget: memory flat (+/-10%) through ${OVERLOAD_S} s at ${OVERLOAD}x overload, judged on window (b).` +
      '\nWhy (b): V8 grows its young generation (new space) by doublings up to a ceiling set by its flags' +
      ` alone (${mb(ceiling.bytes)} MB here, calibrated above) and keeps it there, and RSS follows a doubling` +
      ' as V8 first writes the new pages. That is a one-time warm-up of the runtime, not memory the gateway' +
      ` holds, and it can come well after the ${OVERLOAD_WARMUP_S} s warm-up: here ${stepsText(run)};` +
      ` ${ceilingText(run, ceiling)}. (a) starts at the end of the warm-up and takes in whatever part of` +
      ' that growth comes later; (b) starts once the young generation has settled at its ceiling, so what' +
      ' grows in (b) is what the gateway holds.' +
      (b === undefined
        ? `\nThe young generation did not settle within ${CEILING_WAIT_S} s after the warm-up: (b) is not` +
          ' measured, and the verdict is the one of (a), measured from the end of the warm-up.'
        : '') +
      (newSpace.max !== newSpace.start
        ? `\nNote: the new space still changed size within ${name} (${mb(newSpace.start)} -> ${mb(newSpace.max)} MB).`
        : '') +
      `\n${name}: retained heap (after full GC) end/start within +/-10%: ` +
      `${verdict(judged.retainedHeapFlat)} (${fixed(judged.heapAfterGc.endOverStart, 3)})` +
      `\n${name}: rss end/start and max/start within +/-10%: ${verdict(judged.rssFlat)}` +
      ` (${fixed(judged.memory[0]!.endOverStart, 3)}, ${fixed(judged.memory[0]!.maxOverStart, 3)})` +
      `\nFor reference, ${flatness('(a) from the end of the warm-up', a)}` +
      (judged.offeredRate < CAPACITY * OVERLOAD * 0.9
        ? `\n(note: the generator reached only ${fixed(judged.offeredRate / CAPACITY, 1)}x capacity)`
        : ''),
  );

  let control: GatewayRun | undefined;
  if (memoryControl) {
    console.log(
      '\nControl: the same measurement on a plain gateway (the same forwarder and pool, no protect()). It cannot' +
        ` shed: its requests pile up to the generator's ${MAX_OUTSTANDING} open (the rest of the arrivals are` +
        " skipped), in its pool and in the downstream's queue.",
    );
    control = await measure('gateway-plain', ceiling.bytes);
    report(control, 'plain gateway (control)', ceiling);
    console.log(
      `\nControl, no target: ${flatness('(a)', control.afterWarmup, false)}` +
        (control.afterYoungCeiling === undefined
          ? ''
          : `\nControl, no target: ${flatness('(b)', control.afterYoungCeiling, false)}`) +
        `\nYoung generation, sluice gateway: ${stepsText(run)}; ${ceilingText(run, ceiling)}` +
        `\nYoung generation, plain gateway: ${stepsText(control)}; ${ceilingText(control, ceiling)}`,
    );
  }
  return {
    capacity: CAPACITY,
    overload: OVERLOAD,
    targetRate: CAPACITY * OVERLOAD,
    seconds: OVERLOAD_S,
    warmupSeconds: OVERLOAD_WARMUP_S,
    ceilingWaitSeconds: CEILING_WAIT_S,
    settle: { seconds: SETTLE_S, share: SETTLE_SHARE, bytes: SETTLE_BYTES },
    maxOutstanding: MAX_OUTSTANDING,
    gatewayFlags,
    youngCeiling: ceiling,
    verdict: {
      window: b === undefined ? 'afterWarmup' : 'afterYoungCeiling',
      retainedHeapFlat: judged.retainedHeapFlat,
      rssFlat: judged.rssFlat,
    },
    gateway: runJson(run),
    ...(control === undefined ? {} : { control: runJson(control) }),
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

const DUEL_PAIRS = quick ? 2 : 10;
const DUEL_ROUNDS = quick ? 2 : 3;
const AUTOCANNON = fileURLToPath(new URL('./node_modules/.bin/autocannon', import.meta.url));

interface Duel {
  readonly plain: ServerKind;
  readonly other: ServerKind;
  /** The median over the pairs of each pair's median ratio of requests per second (other over plain). */
  readonly ratio: number;
  /** Each pair's ratios of requests per second, round by round. */
  readonly pairs: readonly (readonly number[])[];
  /**
   * Requests per CPU second, other over plain: the median over the pairs of each pair's median round, CPU
   * time being all of each server process's threads. What each would serve on a core of its own.
   */
  readonly cpuRatio: number;
  /** Each pair's median ratio of requests per CPU second. */
  readonly cpuPairs: readonly number[];
  /** Requests per second of each server, averaged over all rounds. */
  readonly rps: { readonly plain: number; readonly other: number };
}

/** One closed-loop autocannon run in a process of its own, pinned to `cpu`: requests per second and in all. */
async function pinnedCannon(
  url: string,
  seconds: number,
  cpu: number,
): Promise<{ perSecond: number; total: number }> {
  const { stdout } = await execFileAsync(
    'taskset',
    ['-c', String(cpu), AUTOCANNON, '-c', String(CONNECTIONS), '-d', String(seconds), '--json', url],
    { maxBuffer: 1 << 24 },
  );
  const { requests } = JSON.parse(stdout) as { requests: { average: number; total: number } };
  return { perSecond: requests.average, total: requests.total };
}

/**
 * Both servers under load at once, sharing one core (CPU 1), each driven by its own autocannon process on the
 * other core (CPU 0): whatever else this shared machine does slows both alike at every moment, so a round's
 * ratio holds within a few percent where back-to-back runs move by 15%. Each server gets about half the core
 * while both are busy, so the ratio of their requests per second follows the ratio of their costs per
 * request; the CPU time each process used per request is reported beside it.
 *
 * DUEL_PAIRS pairs of fresh processes, started in alternating orders, and the median over the pairs: one
 * pair's ratio holds steady from round to round but moves from pair to pair (from 0.81 to 1.06 for the same
 * two servers, in ten pairs; how each process's JIT and heap settled), and what the start order and the
 * ports favour cancels over the alternation. With two pairs, as this benchmark once used, two processes
 * decided the figure by themselves.
 */
async function duel(plain: ServerKind, other: ServerKind, options: ServerOptions): Promise<Duel> {
  const pairs: number[][] = [];
  const cpuPairs: number[] = [];
  let plainRps = 0;
  let otherRps = 0;
  for (let pair = 0; pair < DUEL_PAIRS; pair++) {
    const order = pair % 2 === 0 ? [plain, other] : [other, plain];
    const first = await spawnServer(order[0]!, options);
    const second = await spawnServer(order[1]!, options);
    await execFileAsync('taskset', ['-pc', '1', String(first.pid)]);
    await execFileAsync('taskset', ['-pc', '1', String(second.pid)]);
    const [p, o] = order[0] === plain ? [first, second] : [second, first];
    await Promise.all([pinnedCannon(p.url, WARMUP, 0), pinnedCannon(o.url, WARMUP, 0)]);
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    for (let round = 0; round < DUEL_ROUNDS; round++) {
      const [pc, oc] = await Promise.all([p.cpu(), o.cpu()]);
      const [a, b] = await Promise.all([pinnedCannon(p.url, DURATION, 0), pinnedCannon(o.url, DURATION, 0)]);
      const [pc2, oc2] = await Promise.all([p.cpu(), o.cpu()]);
      plainRps += a.perSecond;
      otherRps += b.perSecond;
      ratios.push(b.perSecond / a.perSecond);
      cpuRatios.push(b.total / (oc2 - oc) / (a.total / (pc2 - pc)));
    }
    pairs.push(ratios);
    cpuPairs.push(summarise(cpuRatios).median);
    await Promise.all([first.close(), second.close()]);
  }
  const rounds = DUEL_PAIRS * DUEL_ROUNDS;
  return {
    plain,
    other,
    ratio: summarise(pairs.map((r) => summarise(r).median)).median,
    pairs,
    cpuRatio: summarise(cpuPairs).median,
    cpuPairs,
    rps: { plain: plainRps / rounds, other: otherRps / rounds },
  };
}

function duelLine(title: string, d: Duel): void {
  const medians = d.pairs.map((r) => fixed(summarise(r).median * 100, 1)).join(' ');
  const cpu = [...d.cpuPairs].sort((a, b) => a - b);
  const pct = (q: number): string => fixed(quantile(cpu, q) * 100, 1);
  console.log(
    `  ${title}: ${fixed(d.ratio * 100, 1)}% of ${d.plain}'s requests per second (pairs: ${medians}; ` +
      `${fixed(d.rps.other, 0)} vs ${fixed(d.rps.plain, 0)} req/s each on half a core); ` +
      `per CPU second ${fixed(d.cpuRatio * 100, 1)}% (interquartile ${pct(0.25)}-${pct(0.75)}%)`,
  );
}

/** The duels, or undefined where `taskset` (util-linux) is missing. */
async function duels(
  origin: RemoteServer,
): Promise<{ control: Duel; fastify: Duel; proxy: Duel } | undefined> {
  try {
    await execFileAsync('taskset', ['-p', String(process.pid)]);
  } catch {
    console.log(
      '\nSimultaneous runs skipped: taskset (util-linux) is not available to pin processes to cores.',
    );
    return undefined;
  }
  console.log(
    `\nSimultaneous runs: two servers on CPU 1 at once, autocannon for each on CPU 0, ${DUEL_PAIRS} pairs of processes, ${DUEL_ROUNDS} rounds of ${DURATION} s each`,
  );
  const control = await duel('fastify-plain', 'fastify-plain', {});
  duelLine('control, plain Fastify against itself', control);
  const fastify = await duel('fastify-plain', 'fastify-sluice', {});
  duelLine('Fastify with the sluice plugin', fastify);
  const proxy = await duel('proxy-plain', 'proxy-sluice', { upstream: origin.url });
  duelLine('sluice proxy', proxy);
  return { control, fastify, proxy };
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
  const all = [fastifyPlain, fastifySluice, proxyPlain, proxySluice].flatMap((c) => c.servers);
  await Promise.all(all.map((s) => s.close()));
  const simultaneous = await duels(origin);
  await origin.close();
  const verdict = (r: number): string => `${fixed(r * 100, 1)}% ${r >= 0.95 ? 'PASS' : 'FAIL'}`;
  const at = (d: Duel | undefined): string =>
    d === undefined
      ? 'not measured'
      : `${verdict(d.ratio)} (simultaneous; per CPU second ${fixed(d.cpuRatio * 100, 1)}%)`;
  console.log(
    `\nFastify plugin >= 95% of plain: ${at(simultaneous?.fastify)}; ${verdict(fastifyRatio)} (interleaved)` +
      `\nsluice proxy >= 95% of plain undici proxy: ${at(simultaneous?.proxy)}; ${verdict(proxyRatio)} (interleaved)` +
      (simultaneous === undefined
        ? ''
        : `\n(the simultaneous runs' own error: plain Fastify against itself read ${fixed(simultaneous.control.ratio * 100, 1)}%)`),
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
    simultaneous: simultaneous ?? null,
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

const overheadResult = semiSpace === undefined && !memoryOnly ? await overheads() : undefined;
const memory = await overload();

if (!quick && overheadResult !== undefined) {
  writeJson(new URL('./results/http-overhead.json', import.meta.url), {
    environment: environment(),
    overhead: overheadResult,
    memory,
  });
}
