/**
 * The overload benchmark: a gateway in front of a downstream whose capacity changes mid-run, under an
 * open-loop load above the lowest capacity. Which gateway keeps goodput within the SLO close to what the
 * downstream can serve, with admitted requests fast?
 *
 * All on 127.0.0.1 with ports chosen by the OS:
 * - the downstream, in a child process: a thread-pool HTTP server (`lib/resizable-pool-server.ts`) with a
 *   FIFO queue of 100 (a full queue answers 503), each request holding a slot for a seeded lognormal
 *   service time (median 40 ms, p99 120 ms). Its slots change over IPC between phases: 8 (start), 3 (a
 *   sharp drop), 10 (growth beyond the start). Capacity is slots / mean service time.
 * - the gateway, in this process, one at a time: a node:http server that forwards each request to the
 *   downstream over a keep-alive agent, protected by
 *   - nothing;
 *   - a static limit equal to the starting slots: p-limit (its queue is unbounded) and cockatiel's
 *     bulkhead (queue of as many again; a full one answers 503);
 *   - sluice's middleware, `protect()` around the forwarding listener, with default options;
 *   - sluice's proxy, `createProxy()` with default options (undici pool to the downstream).
 *   Every gateway skips the downstream call when its client has already gone, and abandons it (the
 *   downstream does not notice) when its client goes meanwhile.
 * - the load generator, in this process: seeded Poisson arrivals at a fixed rate (1.3x the starting
 *   capacity) that never wait for responses. Each sends `x-request-timeout: 1000` and gives up after
 *   1000 ms (a timeout).
 *
 * Each gateway meets the same arrivals: 3 s of warm-up at the starting capacity, not reported, then the
 * three phases of 9 s. Per phase and gateway: goodput within the SLO (answered 200 within 300 ms, by
 * arrival time) as a fraction of the phase's reference, min(capacity, offered rate); p50/p99 latency of
 * successes; requests shed by the gateway (503/429 it sent itself), refused by the downstream (its queue
 * full), timed out, and failed otherwise. The downstream's own p99 is measured first, calling it directly
 * at half its starting capacity.
 *
 * Targets (issue 5), printed as verdicts, not enforced (exit 0 unless something crashes): sluice keeps
 * goodput within the SLO >= 0.95 of the reference in every phase, and p99 of admitted requests (its
 * successes) <= 2x the downstream's own p99. Writes benchmarks/results/overload.json and overload.svg.
 *
 *   npm run bench:overload
 *
 * About 3 minutes.
 */

import { writeFileSync } from 'node:fs';
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { bulkhead, isBulkheadRejectedError } from 'cockatiel';
import pLimit from 'p-limit';
import { protect } from '../src/http/server/node.ts';
import type { Limiter } from '../src/limiter/types.ts';
import { createProxy } from '../src/proxy/proxy.ts';
import { type DistributionSpec, distribution, Random } from '../src/sim/index.ts';
import { environment, fixed, rankQuantile, table, writeJson } from './lib/harness.ts';
import { lineChart } from './lib/line-chart.ts';
import { type RemoteResizablePool, spawnResizablePool } from './lib/resizable-pool-server.ts';

const SERVICE: DistributionSpec = { type: 'lognormal', median: 40, p99: 120 };
const QUEUE = 100;
const START_SLOTS = 8;
const PHASES = [
  { name: 'start', slots: START_SLOTS },
  { name: 'drop', slots: 3 },
  { name: 'growth', slots: 10 },
] as const;
/** Length of each reported phase, and of the unreported warm-up before them (ms). */
const PHASE_MS = 9000;
const WARMUP_MS = 3000;
/** Offered load, as a multiple of the starting capacity. */
const LOAD = 1.3;
/** Client patience (ms), also sent as the deadline header. */
const TIMEOUT = 1000;
/** Latency objective for goodput (ms). */
const SLO = 300;
const SEED = 42;
/** Calibration: the downstream called directly at this share of its starting capacity, for this long. */
const CALIBRATION_LOAD = 0.5;
const CALIBRATION_MS = 5000;
const GOODPUT_TARGET = 0.95;
/** Sampling interval of this process's event-loop delay histogram (ms). */
const LOOP_RESOLUTION = 10;
const P99_TARGET = 2;

const meanService = distribution(SERVICE, 'service').mean;
const capacityOf = (slots: number): number => (slots * 1000) / meanService;
const RATE = LOAD * capacityOf(START_SLOTS);

type Outcome = 'success' | 'shed' | 'refused' | 'timeout' | 'error';

/** A started gateway: where to send requests, and how to stop it. */
interface Gateway {
  readonly port: number;
  /** The sluice limiter, when there is one, for its limit over time. */
  readonly limiter: Limiter | undefined;
  /** The middleware's process-pressure ceiling on the limit (`Infinity` when none binds), if it has one. */
  readonly pressureCap?: () => number;
  close(): Promise<void>;
}

interface GatewaySpec {
  readonly name: string;
  /** Whether the targets apply to it. */
  readonly sluice: boolean;
  start(downstream: number): Promise<Gateway>;
}

// Enough sockets that no agent ever queues a call itself: the gateway's policy (or the downstream's queue)
// must be the only place requests wait.
const upstreamAgent = new Agent({ keepAlive: true, maxSockets: 2048 });
const clientAgent = new Agent({ keepAlive: true, maxSockets: 2048 });

/**
 * Forwards one request to the downstream and relays its status and body; resolves when the response is
 * over (finished, or the client gone). A client gone before the call skips it; one gone during it aborts
 * the call, which the downstream does not notice.
 */
function forward(req: IncomingMessage, res: ServerResponse, port: number): Promise<void> {
  return new Promise((resolve) => {
    req.resume();
    if (res.destroyed || req.socket.destroyed) {
      resolve();
      return;
    }
    const up = request(
      { host: '127.0.0.1', port, path: req.url, method: req.method, agent: upstreamAgent },
      (upRes) => {
        const headers: Record<string, string> = { 'content-type': 'text/plain' };
        const mark = upRes.headers['x-downstream'];
        if (typeof mark === 'string') headers['x-downstream'] = mark;
        res.writeHead(upRes.statusCode ?? 502, headers);
        upRes.pipe(res);
      },
    );
    up.once('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    });
    res.once('close', () => {
      up.destroy();
      resolve();
    });
    up.end();
  });
}

function shed(res: ServerResponse): void {
  res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' });
  res.end('overloaded');
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Gateway> {
  const server: Server = createServer(handler);
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    limiter: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const gateways: readonly GatewaySpec[] = [
  {
    name: 'none',
    sluice: false,
    start: (port) => listen((req, res) => void forward(req, res, port)),
  },
  {
    name: `p-limit ${START_SLOTS}`,
    sluice: false,
    start: (port) => {
      const limit = pLimit(START_SLOTS);
      return listen((req, res) => void limit(() => forward(req, res, port)));
    },
  },
  {
    name: `cockatiel ${START_SLOTS}+${START_SLOTS}`,
    sluice: false,
    start: (port) => {
      const policy = bulkhead(START_SLOTS, START_SLOTS);
      return listen((req, res) => {
        policy
          .execute(() => forward(req, res, port))
          .catch((error: unknown) => {
            if (isBulkheadRejectedError(error)) shed(res);
            else throw error;
          });
      });
    },
  },
  {
    name: 'sluice middleware',
    sluice: true,
    start: async (port) => {
      const listener = protect((req, res) => void forward(req, res, port));
      const gateway = await listen(listener);
      const protection = listener.protection;
      return {
        ...gateway,
        limiter: protection.limiter,
        pressureCap: () => protection.snapshot().pressureCap,
        close: async () => {
          protection.close();
          await gateway.close();
        },
      };
    },
  },
  {
    name: 'sluice proxy',
    sluice: true,
    start: async (port) => {
      const proxy = createProxy({ upstream: `http://127.0.0.1:${port}`, port: 0 });
      const address = await proxy.start();
      return {
        port: address.port,
        limiter: proxy.limiter,
        close: async () => {
          await proxy.close();
        },
      };
    },
  },
];

/** One call from the load generator; never rejects. */
function call(port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        agent: clientAgent,
        headers: { 'x-request-timeout': String(TIMEOUT) },
      },
      (res) => {
        res.resume();
        res.once('error', () => settle('error'));
        res.once('close', () => settle('error'));
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          if (status === 200) settle('success');
          else if (status === 503 && res.headers['x-downstream'] === 'refused') settle('refused');
          else if (status === 503 || status === 429) settle('shed');
          else settle('error');
        });
      },
    );
    const timer = setTimeout(() => {
      settle('timeout');
      req.destroy();
    }, TIMEOUT);
    req.once('error', () => settle('error'));
    req.end();
  });
}

interface Arrival {
  readonly at: number;
  outcome: Outcome;
  latency: number;
}

/**
 * Open-loop Poisson arrivals at `rate` for `duration` ms, sent to `port`; `onTime` is called with the
 * elapsed time before each batch, to change phases on schedule. Resolves once every call is answered.
 */
async function generate(
  port: number,
  rate: number,
  duration: number,
  onTime: (elapsed: number) => void,
): Promise<{ readonly start: number; readonly arrivals: readonly Arrival[] }> {
  const random = new Random(SEED, `arrivals/${rate}`);
  const gap = 1000 / rate;
  const arrivals: Arrival[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const end = start + duration;
  await new Promise<void>((done) => {
    let due = start + random.exponential(gap);
    const tick = (): void => {
      const now = performance.now();
      onTime(now - start);
      for (; due <= now && due < end; due += random.exponential(gap)) {
        const arrival: Arrival = { at: now - start, outcome: 'error', latency: Number.NaN };
        arrivals.push(arrival);
        pending.push(
          call(port).then((outcome) => {
            arrival.outcome = outcome;
            arrival.latency = performance.now() - start - arrival.at;
          }),
        );
      }
      if (due >= end) done();
      else setTimeout(tick, due - now);
    };
    setTimeout(tick, due - start);
  });
  await Promise.all(pending);
  return { start, arrivals };
}

interface PhaseResult {
  readonly phase: string;
  readonly slots: number;
  readonly capacity: number;
  readonly offeredRate: number;
  /** min(capacity, offered rate): the most goodput the phase allows. */
  readonly reference: number;
  readonly goodputWithinSlo: number;
  readonly fraction: number;
  readonly p50: number;
  readonly p99: number;
  readonly offered: number;
  readonly success: number;
  readonly shed: number;
  readonly refused: number;
  readonly timeouts: number;
  readonly errors: number;
}

interface GatewayResult {
  readonly gateway: string;
  readonly sluice: boolean;
  readonly phases: readonly PhaseResult[];
  /** Goodput within the SLO per second of the run, by arrival time (s from the first phase, rps). */
  readonly series: readonly (readonly [number, number])[];
  /** The sluice limiter's limit, sampled every 250 ms (s from the first phase, limit). */
  readonly limit: readonly (readonly [number, number])[];
  /** The middleware's pressure ceiling when it bound (below `Infinity`), sampled with the limit. */
  readonly pressureCap: readonly (readonly [number, number])[];
  readonly downstream: { readonly served: number; readonly refused: number };
  /** Event-loop delay p99 of this process (generator and gateway) over the run (ms). */
  readonly loopDelayP99: number;
}

/** Mean of a sampled series over one phase, and the share of the phase's samples it has (`-` when none). */
function inPhase(series: readonly (readonly [number, number])[], index: number): string {
  const from = (index * PHASE_MS) / 1000;
  const to = from + PHASE_MS / 1000;
  const values = series.filter(([t]) => t >= from && t < to).map(([, v]) => v);
  if (values.length === 0) return '-';
  return fixed(values.reduce((a, b) => a + b, 0) / values.length);
}

function summarisePhase(index: number, arrivals: readonly Arrival[]): PhaseResult {
  const from = WARMUP_MS + index * PHASE_MS;
  const to = from + PHASE_MS;
  const mine = arrivals.filter((a) => a.at >= from && a.at < to);
  const count: Record<Outcome, number> = { success: 0, shed: 0, refused: 0, timeout: 0, error: 0 };
  const latencies: number[] = [];
  let within = 0;
  for (const a of mine) {
    count[a.outcome]++;
    if (a.outcome !== 'success') continue;
    latencies.push(a.latency);
    if (a.latency <= SLO) within++;
  }
  latencies.sort((a, b) => a - b);
  const phase = PHASES[index]!;
  const seconds = PHASE_MS / 1000;
  const capacity = capacityOf(phase.slots);
  const offeredRate = mine.length / seconds;
  const reference = Math.min(capacity, offeredRate);
  const goodputWithinSlo = within / seconds;
  return {
    phase: phase.name,
    slots: phase.slots,
    capacity,
    offeredRate,
    reference,
    goodputWithinSlo,
    fraction: goodputWithinSlo / reference,
    p50: rankQuantile(latencies, 0.5),
    p99: rankQuantile(latencies, 0.99),
    offered: mine.length,
    success: count.success,
    shed: count.shed,
    refused: count.refused,
    timeouts: count.timeout,
    errors: count.error,
  };
}

async function runGateway(spec: GatewaySpec, down: RemoteResizablePool): Promise<GatewayResult> {
  await down.setSlots(START_SLOTS);
  const before = await down.state();
  const gateway = await spec.start(down.port);
  const limit: [number, number][] = [];
  const pressureCap: [number, number][] = [];
  let phase = -1;
  let start = performance.now();
  const sampler = setInterval(() => {
    const t = (performance.now() - start - WARMUP_MS) / 1000;
    if (t < 0) return;
    if (gateway.limiter !== undefined) limit.push([t, gateway.limiter.limit]);
    const cap = gateway.pressureCap?.() ?? Number.POSITIVE_INFINITY;
    if (cap < Number.POSITIVE_INFINITY) pressureCap.push([t, cap]);
  }, 250);
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION });
  loop.enable();
  const total = WARMUP_MS + PHASES.length * PHASE_MS;
  const run = await generate(gateway.port, RATE, total, (elapsed) => {
    const due = Math.floor((elapsed - WARMUP_MS) / PHASE_MS);
    if (due > phase && due < PHASES.length) {
      phase = due;
      if (due > 0) void down.setSlots(PHASES[due]!.slots);
    }
  });
  start = run.start;
  clearInterval(sampler);
  loop.disable();
  await gateway.close();
  await down.idle(); // abandoned work drains before the next gateway
  const after = await down.state();

  const seconds = Math.floor((PHASES.length * PHASE_MS) / 1000);
  const perSecond = new Array<number>(seconds).fill(0);
  for (const a of run.arrivals) {
    const s = Math.floor((a.at - WARMUP_MS) / 1000);
    if (s >= 0 && s < seconds && a.outcome === 'success' && a.latency <= SLO) perSecond[s]!++;
  }
  return {
    gateway: spec.name,
    sluice: spec.sluice,
    phases: PHASES.map((_, i) => summarisePhase(i, run.arrivals)),
    series: perSecond.map((n, s) => [s + 0.5, n] as const),
    limit,
    pressureCap,
    // The histogram records whole intervals between its timer's ticks: the delay is what exceeds them.
    loopDelayP99: Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION),
    downstream: { served: after.served - before.served, refused: after.refused - before.refused },
  };
}

/** The downstream's own latency: called directly, well below capacity. */
async function calibrate(down: RemoteResizablePool): Promise<{ p50: number; p99: number }> {
  const run = await generate(down.port, CALIBRATION_LOAD * capacityOf(START_SLOTS), CALIBRATION_MS, () => {});
  await down.idle();
  const latencies = run.arrivals
    .filter((a) => a.outcome === 'success')
    .map((a) => a.latency)
    .sort((a, b) => a - b);
  return { p50: rankQuantile(latencies, 0.5), p99: rankQuantile(latencies, 0.99) };
}

console.log(`sluice: the overload benchmark — ${process.version}`);
console.log(
  `downstream: slots ${PHASES.map((p) => `${p.slots} (${p.name})`).join(' -> ')}, queue ${QUEUE}, service ` +
    `lognormal median 40 ms p99 120 ms (mean ${fixed(meanService, 1)} ms); capacity ` +
    `${PHASES.map((p) => fixed(capacityOf(p.slots), 0)).join(' -> ')} rps; offered ${fixed(RATE, 0)} rps ` +
    `(${LOAD}x the start); phases of ${PHASE_MS / 1000} s after ${WARMUP_MS / 1000} s of warm-up; ` +
    `SLO ${SLO} ms; client timeout ${TIMEOUT} ms`,
);

const down = await spawnResizablePool({ slots: START_SLOTS, queue: QUEUE, service: SERVICE, seed: SEED });
const results: GatewayResult[] = [];
let own: { p50: number; p99: number };
try {
  // Opens sockets and warms the code paths before anything is measured.
  await generate(down.port, 100, 1000, () => {});
  await down.idle();
  own = await calibrate(down);
  console.log(
    `downstream's own latency at ${CALIBRATION_LOAD}x the starting capacity: p50 ${fixed(own.p50)} ms, ` +
      `p99 ${fixed(own.p99)} ms`,
  );
  for (const spec of gateways) {
    const result = await runGateway(spec, down);
    results.push(result);
    console.log(
      `  ${spec.name}: goodput within SLO / reference ${result.phases.map((p) => fixed(p.fraction, 2)).join(', ')}` +
        ` (event-loop delay p99 ${fixed(result.loopDelayP99)} ms)`,
    );
  }
} finally {
  await down.close();
  upstreamAgent.destroy();
  clientAgent.destroy();
}

table(
  `per phase: goodput within ${SLO} ms over min(capacity, offered), latency of successes (ms), sluice's ` +
    'mean limit and pressure cap (while it bound), counts',
  [
    'gateway',
    'phase',
    'slots',
    'capacity/s',
    'offered/s',
    'good/s',
    'good/ref',
    'p50',
    'p99',
    'limit',
    'cap',
    'shed',
    'refused',
    'timeouts',
    'errors',
  ],
  results.flatMap((r) =>
    r.phases.map((p, i) => [
      r.gateway,
      p.phase,
      String(p.slots),
      fixed(p.capacity, 0),
      fixed(p.offeredRate, 0),
      fixed(p.goodputWithinSlo),
      fixed(p.fraction, 3),
      fixed(p.p50),
      fixed(p.p99),
      inPhase(r.limit, i),
      inPhase(r.pressureCap, i),
      String(p.shed),
      String(p.refused),
      String(p.timeouts),
      String(p.errors),
    ]),
  ),
);

const p99Bound = P99_TARGET * own.p99;
const verdicts = results
  .filter((r) => r.sluice)
  .map((r) => {
    const goodput = r.phases.every((p) => p.fraction >= GOODPUT_TARGET);
    const latency = r.phases.every((p) => p.p99 <= p99Bound);
    return { gateway: r.gateway, goodput, latency };
  });
console.log('\ntargets (issue 5):');
for (const v of verdicts) {
  const r = results.find((x) => x.gateway === v.gateway)!;
  console.log(
    `  ${v.gateway}: goodput within SLO >= ${GOODPUT_TARGET} of the reference in every phase: ` +
      `${v.goodput ? 'MET' : 'NOT MET'} (${r.phases.map((p) => `${p.phase} ${fixed(p.fraction, 3)}`).join(', ')})`,
  );
  console.log(
    `  ${v.gateway}: p99 of admitted requests <= ${P99_TARGET}x the downstream's own p99 (${fixed(p99Bound)} ms): ` +
      `${v.latency ? 'MET' : 'NOT MET'} (${r.phases.map((p) => `${p.phase} ${fixed(p.p99)}`).join(', ')})`,
  );
}

const colors = ['#888888', '#e6a23c', '#b37feb', '#2f7ed8', '#16a34a'];
const capacitySteps: [number, number][] = [];
PHASES.forEach((p, i) => {
  const from = (i * PHASE_MS) / 1000;
  capacitySteps.push([from, capacityOf(p.slots)], [from + PHASE_MS / 1000, capacityOf(p.slots)]);
});
const svg = lineChart({
  title: `Goodput within ${SLO} ms under ${fixed(RATE, 0)} rps offered, as the downstream's capacity changes`,
  xLabel: 'time since the first phase (s), by arrival',
  yLabel: 'successes within SLO per second',
  series: [
    { name: 'capacity', color: '#000000', points: capacitySteps, dashed: true },
    ...results.map((r, i) => ({ name: r.gateway, color: colors[i % colors.length]!, points: r.series })),
  ],
  markers: PHASES.map((p, i) => ({ x: (i * PHASE_MS) / 1000, label: `${p.name}: ${p.slots} slots` })),
});
writeFileSync(new URL('./results/overload.svg', import.meta.url), svg);

writeJson(new URL('./results/overload.json', import.meta.url), {
  environment: environment(),
  settings: {
    service: SERVICE,
    meanService,
    queue: QUEUE,
    phases: PHASES.map((p) => ({ ...p, capacity: capacityOf(p.slots) })),
    phaseMs: PHASE_MS,
    warmupMs: WARMUP_MS,
    load: LOAD,
    rate: RATE,
    timeout: TIMEOUT,
    slo: SLO,
    seed: SEED,
  },
  unit: 'rates in requests per second; times in ms; fraction = goodput within SLO / min(capacity, offered)',
  downstreamOwnLatency: own,
  targets: { goodputFraction: GOODPUT_TARGET, p99Multiple: P99_TARGET, p99Bound },
  verdicts,
  results,
});
console.log('\nwrote benchmarks/results/overload.json and benchmarks/results/overload.svg');
