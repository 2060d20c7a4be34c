/**
 * The simulator against reality: a small real system on loopback, and its simulated twin, must agree on
 * goodput within 10%.
 *
 * The real system, all on 127.0.0.1 with ports chosen by the OS:
 * - a downstream in a child process: a thread-pool HTTP server with 8 slots and a FIFO queue of 100 (a full
 *   queue answers 503), each request holding its slot for a lognormal service time (median 20 ms, p99 60 ms,
 *   seeded) on a real timer (`lib/thread-pool-server.ts`);
 * - a gateway in this process: `limiter.run()` around an HTTP call to the downstream over a keep-alive
 *   agent, with a 1 s call timeout; the limiter's `RejectedError` is a shed;
 * - an open-loop load generator in this process: seeded Poisson arrivals at a fixed rate, which never wait
 *   for responses. A client gives up 1 s after it sent (its deadline is passed to the limiter); an answer
 *   after that counts as a timeout, not a success.
 *
 * Each policy (sluice's default adaptive limiter, `createLimiter()`, and a static limit equal to the slots
 * with no queue) meets each load (0.7x, 1.5x and 2x the capacity, slots / mean service time), in a run of
 * its own from a fresh limiter. The twin is the same shape as a scenario: Poisson arrivals at the same rate
 * with the same client timeout, a downstream with the same service distribution, slots, queue and call
 * timeout, the same policy as `{ type: 'limiter', ... }`, the same duration and warm-up. It runs on several
 * seeds and the table shows their mean and range; the verdict compares the real goodput with that mean. A
 * second twin replays the times at which the real run actually sent its requests (a `trace` workload), which
 * takes the arrivals' sampling noise out of the comparison. Goodput is successes per second over the run
 * after its warm-up, counted the simulator's way (requests that arrived after the warm-up and were answered
 * in time, before the end).
 *
 * Real timers are not exact, so the real downstream holds a slot a little more or less than the service
 * time it drew; the server measures this timer error, and the gateway its HTTP overhead (round trip minus
 * the server's own time). Both are reported, with the CPU the processes used, the event-loop delay and the
 * load generator's lag, to show that neither the generator nor the gateway was starved of CPU.
 *
 * The verdict is printed, not enforced: the benchmark exits 0 whether or not every run is within 10% (1
 * only on a crash). Writes benchmarks/results/sim-vs-real.json.
 *
 *   sh scripts/use-node.sh node benchmarks/sim-vs-real.bench.ts [--quick] [--none]
 *
 * About 80 s of real time (6 runs of 12 s); `--quick` runs 6 s each, `--none` adds the unprotected baseline.
 */
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isRejectedError } from '../src/core/errors.ts';
import { createLimiter } from '../src/limiter/limiter.ts';
import type { Limiter } from '../src/limiter/types.ts';
import {
  type DistributionSpec,
  distribution,
  type PolicySpec,
  Random,
  type Scenario,
  type SimSummary,
  simulate,
} from '../src/sim/index.ts';
import { environment, fixed, percent, rankQuantile, table, writeJson } from './lib/harness.ts';
import {
  type RemoteThreadPool,
  spawnThreadPoolServer,
  type ThreadPoolStats,
} from './lib/thread-pool-server.ts';

const quick = process.argv.includes('--quick');
const SLOTS = 8;
/** The downstream's queue: Tomcat's default accept count. Only the unprotected baseline ever fills it. */
const QUEUE = 100;
const SERVICE: DistributionSpec = { type: 'lognormal', median: 20, p99: 60 };
/** Client patience and gateway call timeout (ms). */
const TIMEOUT = 1000;
/** Latency objective for goodput within the SLO (ms). */
const SLO = 250;
/** One run: its length and the warm-up left out of its figures (ms). */
const DURATION = quick ? 6000 : 12_000;
const WARMUP = quick ? 1000 : 2000;
const LOADS = [0.7, 1.5, 2] as const;
/** Seeds the twin runs on; the simulator is fast, and their mean takes the twin's own sampling noise out. */
const SIM_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const TOLERANCE = 0.1;
const SEED = 42;
/** Sampling interval of the gateway's event-loop delay histogram (ms). */
const LOOP_RESOLUTION = 10;

const meanService = distribution(SERVICE, 'service').mean;
/** Requests per second the downstream completes when every slot is always busy. */
const CAPACITY = (SLOTS * 1000) / meanService;

interface Policy {
  readonly name: string;
  /** The real gate; `undefined` for none. */
  readonly create: () => Limiter | undefined;
  /** The same policy as a scenario gives it. */
  readonly spec: PolicySpec;
}

const policies: Policy[] = [
  { name: 'adaptive', create: () => createLimiter(), spec: { type: 'limiter' } },
  {
    name: `static ${SLOTS}`,
    create: () => createLimiter({ limit: SLOTS, queue: false }),
    spec: { type: 'limiter', limit: SLOTS, queue: false },
  },
];
if (process.argv.includes('--none'))
  policies.push({ name: 'none', create: () => undefined, spec: { type: 'none' } });

type Outcome = 'success' | 'shed' | 'overload' | 'timeout' | 'error';

/** A finished call as the gateway saw it. */
interface Answer {
  readonly outcome: Outcome;
  /** For a success: the round trip minus the server's own time (ms), the cost of HTTP on loopback. */
  readonly overhead: number;
}

// Enough sockets that the agent never queues a call itself: the limiter (or the downstream's queue) must be
// the only place requests wait.
const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

/** An error carrying the HTTP status, as the limiter's default classifier reads it (503 is a drop). */
class StatusError extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`downstream answered ${status}`);
    this.status = status;
  }
}

/**
 * One GET to the downstream. Resolves with the gateway's HTTP overhead on a 200; rejects with a
 * `StatusError` on any other status, or with a `TimeoutError` (a drop for the limiter) after `TIMEOUT` ms,
 * which also destroys the socket. The server does not notice: the abandoned work still takes its slot.
 */
function call(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const sent = performance.now();
    let settled = false;
    // Settles once, whichever of the response, an error or the timer comes first.
    const settle = (error: unknown, overhead = Number.NaN): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) resolve(overhead);
      else reject(error);
    };
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.once('error', settle);
      res.once('close', () => settle(new Error('response closed before its end')));
      res.once('end', () => {
        if (res.statusCode !== 200) return settle(new StatusError(res.statusCode ?? 0));
        const server = Number(res.headers['x-queue-ms']) + Number(res.headers['x-hold-ms']);
        settle(undefined, performance.now() - sent - server);
      });
    });
    const timer = setTimeout(() => {
      settle(new DOMException('call timed out', 'TimeoutError'));
      req.destroy();
    }, TIMEOUT);
    req.once('error', settle);
    req.end();
  });
}

/** The gateway: admits (or sheds) through the limiter, calls, and never rejects. */
async function gateway(limiter: Limiter | undefined, port: number, arrived: number): Promise<Answer> {
  try {
    const overhead =
      limiter === undefined
        ? await call(port)
        : await limiter.run(() => call(port), { deadline: arrived + TIMEOUT });
    return { outcome: 'success', overhead };
  } catch (error) {
    if (isRejectedError(error)) return { outcome: 'shed', overhead: Number.NaN };
    if (error instanceof StatusError && error.status === 503)
      return { outcome: 'overload', overhead: Number.NaN };
    if ((error as { name?: unknown }).name === 'TimeoutError')
      return { outcome: 'timeout', overhead: Number.NaN };
    return { outcome: 'error', overhead: Number.NaN };
  }
}

interface RealResult {
  readonly offered: number;
  readonly offeredRate: number;
  readonly success: number;
  readonly goodput: number;
  readonly goodputWithinSlo: number;
  readonly shed: number;
  readonly overload: number;
  readonly timeouts: number;
  readonly errors: number;
  readonly p50: number;
  readonly p99: number;
  /** Downstream slot time minus drawn service time (ms), and the mean drawn service time (ms). */
  readonly timerError: ThreadPoolStats['timerError'];
  readonly meanService: number;
  /** Gateway HTTP overhead per successful call (ms). */
  readonly httpOverhead: { readonly mean: number; readonly p99: number };
  /** Load generator: how late arrivals were sent after their scheduled time (ms, 99th percentile). */
  readonly generatorLagP99: number;
  /** Event-loop delay of the gateway process (ms, 99th percentile). */
  readonly loopDelayP99: number;
  /** CPU used, as a share of one core: gateway and load generator, and downstream. */
  readonly cpu: { readonly gateway: number; readonly downstream: number };
  /** The limiter's state, sampled every 100 ms after the warm-up (mean; NaN without a limiter). */
  readonly limiter: LimiterGauges;
}

interface LimiterGauges {
  readonly limit: number;
  readonly inflight: number;
  readonly queued: number;
}

/**
 * Runs one policy at one rate against the real downstream, from a fresh limiter. Returns its figures and
 * the times (ms from its start) at which requests were actually sent, for the replay twin.
 */
async function runReal(
  policy: Policy,
  rate: number,
  server: RemoteThreadPool,
): Promise<{ readonly result: RealResult; readonly sent: number[] }> {
  const limiter = policy.create();
  await server.stats(); // a new measurement window
  // Arrivals depend on the rate only: every policy meets the same ones (common random numbers).
  const random = new Random(SEED, `arrivals/${rate}`);
  const gap = 1000 / rate;
  const arrived: number[] = [];
  const answered: number[] = [];
  const outcomes: Outcome[] = [];
  const overheads: number[] = [];
  const lags: number[] = [];
  const pending: Promise<void>[] = [];
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION });
  loop.enable();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const end = start + DURATION;
  const gauges = { limit: [] as number[], inflight: [] as number[], queued: [] as number[] };
  // Samples as the simulator does (every tenth of its one-second bucket), after the warm-up.
  const sampler = setInterval(() => {
    if (limiter === undefined || performance.now() < start + WARMUP) return;
    gauges.limit.push(limiter.limit);
    gauges.inflight.push(limiter.inflight);
    gauges.queued.push(limiter.queued);
  }, 100);

  const send = (now: number): void => {
    const i = arrived.length;
    arrived.push(now);
    answered.push(Number.NaN);
    outcomes.push('error');
    pending.push(
      gateway(limiter, server.port, now).then((a) => {
        answered[i] = performance.now();
        outcomes[i] = a.outcome;
        if (a.outcome === 'success') overheads.push(a.overhead);
      }),
    );
  };
  // Open loop: each arrival is due at its Poisson time whatever happened to the earlier ones. A timer
  // fires late by up to a millisecond or so; the arrivals that fell due meanwhile are sent at once.
  await new Promise<void>((done) => {
    let due = start + random.exponential(gap);
    const tick = (): void => {
      const now = performance.now();
      for (; due <= now && due < end; due += random.exponential(gap)) {
        lags.push(now - due);
        send(now);
      }
      if (due >= end) done();
      else setTimeout(tick, due - now);
    };
    setTimeout(tick, due - start);
  });
  clearInterval(sampler);
  await Promise.all(pending);
  const used = process.cpuUsage(cpu);
  const elapsed = performance.now() - start;
  loop.disable();
  const down = await server.stats();
  await server.idle(); // abandoned work drains before the next run

  // Counted as the simulator counts: arrivals after the warm-up, answered in time and before the end.
  const from = start + WARMUP;
  const count: Record<Outcome, number> = { success: 0, shed: 0, overload: 0, timeout: 0, error: 0 };
  const latencies: number[] = [];
  let offered = 0;
  let withinSlo = 0;
  for (let i = 0; i < arrived.length; i++) {
    const t = arrived[i]!;
    if (t < from) continue;
    offered++;
    const latency = answered[i]! - t;
    let outcome = outcomes[i]!;
    if (latency > TIMEOUT) outcome = 'timeout'; // the client had given up
    if (answered[i]! > end) continue; // still unanswered when the run ended
    count[outcome]++;
    if (outcome !== 'success') continue;
    latencies.push(latency);
    if (latency <= SLO) withinSlo++;
  }
  const seconds = (DURATION - WARMUP) / 1000;
  latencies.sort((a, b) => a - b);
  overheads.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  const result: RealResult = {
    offered,
    offeredRate: offered / seconds,
    success: count.success,
    goodput: count.success / seconds,
    goodputWithinSlo: withinSlo / seconds,
    shed: count.shed,
    overload: count.overload,
    timeouts: count.timeout,
    errors: count.error,
    p50: rankQuantile(latencies, 0.5),
    p99: rankQuantile(latencies, 0.99),
    timerError: down.timerError,
    meanService: down.meanService,
    httpOverhead: { mean: mean(overheads), p99: rankQuantile(overheads, 0.99) },
    generatorLagP99: rankQuantile(lags, 0.99),
    // The histogram records whole intervals between its timer's ticks: the delay is what exceeds them.
    loopDelayP99: Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION),
    cpu: { gateway: (used.user + used.system) / 1000 / elapsed, downstream: down.cpuMs / elapsed },
    limiter: { limit: mean(gauges.limit), inflight: mean(gauges.inflight), queued: mean(gauges.queued) },
  };
  return { result, sent: arrived.map((t) => t - start) };
}

interface TwinResult {
  readonly goodput: number;
  readonly goodputWithinSlo: number;
  /** Smallest and largest goodput over the seeds: the twin's own sampling noise. */
  readonly goodputRange: readonly [number, number];
  readonly shedShare: number;
  readonly timeouts: number;
  readonly p50: number;
  readonly p99: number;
  readonly limiter: LimiterGauges;
}

/**
 * The real run's shape as a scenario: Poisson arrivals at `rate`, or, given `sent`, a replay of the very
 * times at which the real run sent its requests (the twin then differs from the real run only in the
 * downstream's service-time draws and in what reality adds).
 */
function twin(policy: Policy, rate: number, seed: number, sent?: readonly number[]): Scenario {
  return {
    name: `${policy.name} at ${fixed(rate, 0)} rps`,
    seed,
    duration: DURATION,
    warmup: WARMUP,
    workload:
      sent === undefined
        ? { type: 'poisson', rate, timeout: TIMEOUT }
        : { type: 'trace', records: sent.map((at) => ({ at })), timeout: TIMEOUT },
    downstream: { service: SERVICE, concurrency: SLOTS, queue: QUEUE, timeout: TIMEOUT },
    policy: policy.spec,
    slo: { latency: SLO },
  };
}

/** Simulates the twin on every seed; figures are means over the seeds. */
async function runTwin(policy: Policy, rate: number, sent?: readonly number[]): Promise<TwinResult> {
  const runs: SimSummary[] = [];
  for (const seed of SIM_SEEDS) runs.push((await simulate(twin(policy, rate, seed, sent))).summary);
  const goodputs = runs.map((s) => s.goodput);
  return {
    goodput: mean(goodputs),
    goodputWithinSlo: mean(runs.map((s) => s.goodputWithinSlo)),
    goodputRange: [Math.min(...goodputs), Math.max(...goodputs)],
    shedShare: mean(runs.map((s) => s.shed / s.offered)),
    timeouts: mean(runs.map((s) => s.timeouts)),
    p50: mean(runs.map((s) => s.latency.p50 ?? Number.NaN)),
    p99: mean(runs.map((s) => s.latency.p99 ?? Number.NaN)),
    limiter: {
      limit: mean(runs.map((s) => s.gauges['limit']?.mean ?? Number.NaN)),
      inflight: mean(runs.map((s) => s.gauges['inflight']?.mean ?? Number.NaN)),
      queued: mean(runs.map((s) => s.gauges['queued']?.mean ?? Number.NaN)),
    },
  };
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((s, x) => s + x, 0) / values.length;
}

interface Row {
  readonly policy: string;
  readonly load: number;
  readonly rate: number;
  readonly real: RealResult;
  /** The twin as the scenario describes it (Poisson arrivals). */
  readonly sim: TwinResult;
  /** The twin replaying the real run's arrivals. */
  readonly replay: TwinResult;
  /** Real goodput over the twin's, and whether it is within the tolerance. */
  readonly ratio: number;
  readonly within: boolean;
  /** Real goodput over the replay twin's. */
  readonly replayRatio: number;
  readonly replayWithin: boolean;
}

console.log(
  `sluice: the simulator against a real loopback run — ${process.version}${quick ? ', quick' : ''}`,
);
console.log(
  `downstream: ${SLOTS} slots, queue ${QUEUE}, service lognormal median 20 ms p99 60 ms (mean ` +
    `${fixed(meanService, 1)} ms); capacity ${fixed(CAPACITY, 0)} rps; runs of ${DURATION / 1000} s, ` +
    `the first ${WARMUP / 1000} s left out`,
);

const server = await spawnThreadPoolServer({ slots: SLOTS, queue: QUEUE, service: SERVICE, seed: SEED });
const rows: Row[] = [];
try {
  // Opens sockets and warms the gateway's code paths; measured runs then start from a steady process.
  const warm = performance.now() + 1000;
  while (performance.now() < warm)
    await Promise.all(Array.from({ length: 4 }, () => gateway(undefined, server.port, 0)));
  await server.idle();

  for (const policy of policies) {
    for (const load of LOADS) {
      const rate = CAPACITY * load;
      const { result: real, sent } = await runReal(policy, rate, server);
      const sim = await runTwin(policy, rate);
      const replay = await runTwin(policy, rate, sent);
      const ratio = real.goodput / sim.goodput;
      const replayRatio = real.goodput / replay.goodput;
      const within = Math.abs(ratio - 1) <= TOLERANCE;
      const replayWithin = Math.abs(replayRatio - 1) <= TOLERANCE;
      rows.push({
        policy: policy.name,
        load,
        rate,
        real,
        sim,
        replay,
        ratio,
        within,
        replayRatio,
        replayWithin,
      });
      console.log(
        `  ${policy.name} at ${load}x: real ${fixed(real.goodput)} /s, twin ${fixed(sim.goodput)} /s, ` +
          `ratio ${fixed(ratio, 3)} (${within ? 'within' : 'OUTSIDE'} ${percent(TOLERANCE)})`,
      );
    }
  }
} finally {
  await server.close();
  agent.destroy();
}

table(
  'goodput (successes/s): real, its twin (mean and range over seeds), and the twin replaying its arrivals',
  [
    'policy',
    'load',
    'offered/s',
    'real',
    'twin',
    'twin range',
    'real/twin',
    `±${percent(TOLERANCE)}`,
    'replay',
    'real/replay',
    `±${percent(TOLERANCE)}`,
    `real SLO`,
    'twin SLO',
  ],
  rows.map((r) => [
    r.policy,
    `${r.load}x`,
    fixed(r.real.offeredRate, 0),
    fixed(r.real.goodput),
    fixed(r.sim.goodput),
    `${fixed(r.sim.goodputRange[0], 0)}-${fixed(r.sim.goodputRange[1], 0)}`,
    fixed(r.ratio, 3),
    r.within ? 'yes' : 'NO',
    fixed(r.replay.goodput),
    fixed(r.replayRatio, 3),
    r.replayWithin ? 'yes' : 'NO',
    fixed(r.real.goodputWithinSlo),
    fixed(r.sim.goodputWithinSlo),
  ]),
);
/** One cell holding the real figure and the twin's; `-` where there is none (no limiter). */
const pair = (real: number, sim: number, format: (n: number) => string = (n) => fixed(n)): string =>
  `${Number.isFinite(real) ? format(real) : '-'} / ${Number.isFinite(sim) ? format(sim) : '-'}`;
table(
  'latency of successes (ms), shedding and the limiter, as real / twin',
  ['policy', 'load', 'p50', 'p99', 'shed', 'timeouts', 'limit', 'in flight', 'queued'],
  rows.map((r) => [
    r.policy,
    `${r.load}x`,
    pair(r.real.p50, r.sim.p50),
    pair(r.real.p99, r.sim.p99),
    pair(r.real.shed / r.real.offered, r.sim.shedShare, percent),
    pair(r.real.timeouts, r.sim.timeouts, (n) => fixed(n, 0)),
    pair(r.real.limiter.limit, r.sim.limiter.limit),
    pair(r.real.limiter.inflight, r.sim.limiter.inflight),
    pair(r.real.limiter.queued, r.sim.limiter.queued),
  ]),
);
table(
  'what reality adds (ms), and whether the load generator kept up',
  [
    'policy',
    'load',
    'timer error mean',
    'p99',
    'http mean',
    'p99',
    'gen lag p99',
    'loop p99',
    'cpu gw',
    'cpu down',
  ],
  rows.map((r) => [
    r.policy,
    `${r.load}x`,
    fixed(r.real.timerError.mean, 2),
    fixed(r.real.timerError.p99, 2),
    fixed(r.real.httpOverhead.mean, 2),
    fixed(r.real.httpOverhead.p99, 2),
    fixed(r.real.generatorLagP99, 2),
    fixed(r.real.loopDelayP99, 2),
    percent(r.real.cpu.gateway),
    percent(r.real.cpu.downstream),
  ]),
);

const timerError = mean(rows.map((r) => r.real.timerError.mean));
const passed = rows.filter((r) => r.within).length;
const replayed = rows.filter((r) => r.replayWithin).length;
const realCapacity = (SLOTS * 1000) / (meanService + timerError);
console.log(
  `\nreal slots are held ${fixed(Math.abs(timerError), 2)} ms ${timerError < 0 ? 'less' : 'more'} than the ` +
    `drawn service time on average (timer error ${fixed((100 * timerError) / meanService, 1)}% of the mean ` +
    `service time): the real capacity is about ${fixed(realCapacity, 0)} rps, the nominal ` +
    `${fixed(CAPACITY, 0)}`,
);
console.log(
  `goodput within ${percent(TOLERANCE)} of the twin in ${passed} of ${rows.length} runs: ` +
    (passed === rows.length ? 'the simulator agrees with reality' : 'NOT every run agrees (see above)') +
    `; within ${percent(TOLERANCE)} of the replay twin in ${replayed} of ${rows.length}`,
);

writeJson(new URL('./results/sim-vs-real.json', import.meta.url), {
  environment: environment(),
  settings: {
    quick,
    slots: SLOTS,
    queue: QUEUE,
    service: SERVICE,
    meanService,
    capacity: CAPACITY,
    timeout: TIMEOUT,
    slo: SLO,
    duration: DURATION,
    warmup: WARMUP,
    simSeeds: SIM_SEEDS,
    tolerance: TOLERANCE,
  },
  unit: 'goodput in successes per second; times in ms; cpu as a share of one core',
  results: rows,
  summary: {
    within: passed,
    withinReplay: replayed,
    runs: rows.length,
    meanTimerError: timerError,
    realCapacity,
  },
});
