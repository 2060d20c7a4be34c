import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import {
  type AutoscaleDecision,
  type AutoscalerEvents,
  type AutoscalerOptions,
  createAutoscaler,
} from '../../src/scale/controller.ts';
import type { Behavior, RatePolicy } from '../../src/scale/guards.ts';
import type { SignalTracker } from '../../src/scale/signal-set.ts';
import type { Actuator, Capacity, Collector, PolicyInput, ScalingPolicy } from '../../src/scale/types.ts';

const S = 1000;
const INTERVAL = 15 * S;

/** An in-test actuator: takes every count at once; `ready` follows `desired` unless `lagging`. */
class Fleet implements Actuator {
  readonly name = 'fleet';
  desired: number;
  ready: number;
  lagging = false;
  readonly calls: number[] = [];
  fail: Error | undefined;
  constructor(replicas: number) {
    this.desired = replicas;
    this.ready = replicas;
  }
  capacity(): Capacity {
    return { desired: this.desired, ready: this.ready };
  }
  scale(replicas: number): void {
    this.calls.push(replicas);
    if (this.fail !== undefined) throw this.fail;
    this.desired = replicas;
    if (!this.lagging) this.ready = replicas;
  }
}

/** A collector reporting whatever `values` holds when asked. */
function gauge(name: string, values: Record<string, number>): Collector & { values: Record<string, number> } {
  return {
    name,
    values,
    collect() {
      return { ...this.values };
    },
  };
}

/** A policy that wants as many replicas as the signal `name` says (rule `"want:<name>"`). */
function wants(name: string): ScalingPolicy {
  return {
    name: `want:${name}`,
    propose(input: PolicyInput) {
      const s = input.signals.get(name);
      if (s === undefined) return undefined;
      return { replicas: Math.round(s.value), rule: `want:${name}`, reason: `${name} says ${s.value}` };
    },
  };
}

/** Signals as read: smoothed is the value (keeps the numbers in tests exact). */
function passthrough(): SignalTracker {
  let value: number | undefined;
  let at = 0;
  return {
    update(v, t) {
      value = v;
      at = t;
    },
    signal(now) {
      if (value === undefined) return undefined;
      return { value, smoothed: value, slope: 0, forecast: value, accuracy: 0, age: now - at };
    },
  };
}

/** No stabilization and no rate limits: the guards under test are the only ones acting. */
const free: Behavior = {
  scaleUp: { stabilizationWindowMs: 0, policies: [] },
  scaleDown: { stabilizationWindowMs: 0, policies: [] },
};

function setup(options: Partial<AutoscalerOptions> & { replicas?: number; want?: number } = {}) {
  const { replicas = 2, want, ...rest } = options;
  const clock = new VirtualClock();
  const fleet = new Fleet(replicas);
  const app = gauge('app', { want: want ?? replicas });
  const autoscaler = createAutoscaler({
    clock,
    collectors: [app],
    policies: [wants('want')],
    actuator: fleet,
    max: 20,
    behavior: free,
    analyser: passthrough,
    ...rest,
  });
  /** Sets the wanted count, runs one tick, then moves the clock one interval on. */
  const step = async (want?: number): Promise<AutoscaleDecision> => {
    if (want !== undefined) app.values.want = want;
    const decision = await autoscaler.tick();
    clock.advance(INTERVAL);
    return decision;
  };
  return { clock, fleet, app, autoscaler, step };
}

function guards(d: AutoscaleDecision): string[] {
  return d.clamps.map((c) => c.guard);
}

describe('createAutoscaler options', () => {
  const base = (): AutoscalerOptions => ({
    clock: new VirtualClock(),
    collectors: [],
    policies: [wants('x')],
    actuator: new Fleet(1),
    max: 10,
  });
  const bad: [Partial<AutoscalerOptions> | Record<string, unknown>, string][] = [
    [{ max: undefined }, 'max'],
    [{ min: 5, max: 3 }, 'max'],
    [{ min: -1 }, 'min'],
    [{ interval: 0 }, 'interval'],
    [{ policies: [] }, 'policies'],
    [{ collectors: [gauge('a', {}), gauge('a', {})] }, 'collectors[1].name'],
    [{ actuator: {} as Actuator }, 'actuator'],
    [{ mode: 'sometimes' as 'live' }, 'mode'],
    [{ mode: 'shadow' }, 'shadow'],
    [{ mode: 'live', shadow: { policies: [wants('x')] } }, 'mode'],
    [{ shadow: { policies: [] } }, 'shadow.policies'],
    [{ cost: { pricePerReplicaHour: 2, maxSpendPerHour: 1 }, min: 1 }, 'cost.maxSpendPerHour'],
    [
      { behavior: { scaleUp: { policies: [{ type: 'pods', value: 0, periodMs: 1 }] } } },
      'behavior.scaleUp.policies[0].value',
    ],
    [{ rollback: { windowMs: 0 } }, 'rollback.windowMs'],
    [{ rollback: { windowMs: 1, threshold: 0 } }, 'rollback.threshold'],
    [{ warmup: -1 }, 'warmup'],
    [{ collectTimeout: 0 }, 'collectTimeout'],
    [{ records: 0 }, 'records'],
    [{ analyser: { halfLife: 0 } }, 'analyser.halfLife'],
    [{ logger: { info() {} } as never }, 'logger'],
  ];
  for (const [options, option] of bad) {
    it(`rejects ${JSON.stringify(options)} naming "${option}"`, () => {
      assert.throws(
        () => createAutoscaler({ ...base(), ...options } as AutoscalerOptions),
        (e) => isConfigError(e) && e.option === option && e.message.includes(option),
      );
    });
  }

  it('defaults to shadow mode when a shadow candidate is given', () => {
    assert.equal(createAutoscaler({ ...base(), shadow: { policies: [wants('y')] } }).mode, 'shadow');
    assert.equal(createAutoscaler(base()).mode, 'live');
  });
});

describe('a tick', () => {
  it('scales to the largest proposal and records the rule, the proposals and a one-line summary', async () => {
    const { fleet, autoscaler, app } = setup({
      policies: [wants('want'), wants('other')],
      replicas: 2,
    });
    app.values = { want: 5, other: 7 };
    const d = await autoscaler.tick();
    assert.equal(d.seq, 1);
    assert.equal(d.rule, 'want:other');
    assert.equal(d.proposed, 7);
    assert.equal(d.replicas, 7);
    assert.equal(d.changed, true);
    assert.deepEqual(
      d.proposals.map((p) => p.replicas),
      [5, 7],
    );
    assert.deepEqual(d.readings, { app: { want: 5, other: 7 } });
    assert.equal(d.signals['other']?.value, 7);
    assert.deepEqual(d.capacity, { desired: 2, ready: 2 });
    assert.deepEqual(fleet.calls, [7]);
    assert.ok(!d.summary.includes('\n'));
    assert.match(d.summary, /^#1 scale 2→7: want:other wants 7 \(other says 7\)$/);
    assert.deepEqual(autoscaler.decisions, [d]);
  });

  it('holds when no policy has an opinion', async () => {
    const { fleet, autoscaler, app } = setup({ replicas: 3 });
    app.values = { unrelated: 1 };
    const d = await autoscaler.tick();
    assert.equal(d.rule, 'hold');
    assert.equal(d.replicas, 3);
    assert.equal(d.changed, false);
    assert.deepEqual(fleet.calls, []);
    assert.match(d.summary, /hold at 3: no policy had an opinion/);
  });

  it('emits decision and scale events, also on diagnostics_channel', async () => {
    const { autoscaler } = setup({ replicas: 2, want: 4 });
    const seen: string[] = [];
    autoscaler.on('decision', (d) => seen.push(`decision #${d.seq}`));
    autoscaler.on('scale', (e) => seen.push(`scale ${e.from}→${e.to} by ${e.rule}`));
    const channel: unknown[] = [];
    const onMessage = (m: unknown): void => {
      channel.push(m);
    };
    subscribe('sluice:scale:scale', onMessage);
    try {
      await autoscaler.tick();
    } finally {
      unsubscribe('sluice:scale:scale', onMessage);
    }
    assert.deepEqual(seen, ['decision #1', 'scale 2→4 by want:want']);
    assert.equal((channel[0] as AutoscalerEvents['scale']).to, 4);
  });

  it('gives every decision to the logger as a structured record', async () => {
    const lines: { level: string; record: object; message: string | undefined }[] = [];
    const logger = {
      info: (record: object, message?: string) => lines.push({ level: 'info', record, message }),
      warn: (record: object, message?: string) => lines.push({ level: 'warn', record, message }),
    };
    const { step } = setup({ logger, want: 3 });
    const d = await step();
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, 'info');
    assert.equal(lines[0]?.record, d);
    assert.equal(lines[0]?.message, d.summary);
  });

  it('keeps a bounded ring of recent decisions', async () => {
    const { step, autoscaler } = setup({ records: 3 });
    for (let i = 0; i < 5; i++) await step();
    assert.deepEqual(
      autoscaler.decisions.map((d) => d.seq),
      [3, 4, 5],
    );
  });

  it('names a reading reported by two collectors after each collector', async () => {
    const { autoscaler } = setup({
      collectors: [gauge('rabbit', { backlog: 10 }), gauge('redis', { backlog: 20, lag: 1 })],
    });
    const d = await autoscaler.tick();
    assert.deepEqual(Object.keys(d.signals).sort(), ['lag', 'rabbit.backlog', 'redis.backlog']);
  });

  it('analyses signals with the default analyser: smoothed, trend and forecast', async () => {
    const clock = new VirtualClock();
    const app = gauge('app', { load: 10 });
    const autoscaler = createAutoscaler({
      clock,
      collectors: [app],
      policies: [wants('load')],
      actuator: new Fleet(2),
      max: 100,
      horizon: 30 * S,
    });
    for (const load of [10, 20, 30]) {
      app.values.load = load;
      await autoscaler.tick();
      clock.advance(INTERVAL);
    }
    const s = autoscaler.decisions.at(-1)!.signals['load']!;
    assert.equal(s.value, 30);
    assert.ok(s.smoothed > 10 && s.smoothed < 30, `smoothed ${s.smoothed}`);
    assert.ok(s.slope > 0, `slope ${s.slope}`);
    assert.ok(s.forecast > 30, `forecast ${s.forecast}`);
    assert.equal(s.age, 0);
  });
});

describe('guards in the controller', () => {
  it('clamps to min and max, saying so in the record', async () => {
    const { step } = setup({ min: 2, max: 6 });
    const high = await step(9);
    assert.equal(high.replicas, 6);
    assert.deepEqual(guards(high), ['max']);
    assert.match(high.summary, /clamped max 9→6/);
    const low = await step(0);
    assert.equal(low.replicas, 2);
    assert.deepEqual(guards(low), ['min']);
  });

  it('scales down only once the lower count was wanted for the whole scale-down window', async () => {
    const { step, fleet } = setup({
      replicas: 8,
      behavior: { ...free, scaleDown: { stabilizationWindowMs: 60 * S, policies: [] } },
    });
    await step(8); // t = 0
    const held: AutoscaleDecision[] = [];
    for (let i = 0; i < 3; i++) held.push(await step(3)); // t = 15, 30, 45 s
    assert.deepEqual(
      held.map((d) => d.replicas),
      [8, 8, 8],
    );
    assert.deepEqual(guards(held[0]!), ['scaleDown.stabilization']);
    assert.match(held[0]!.clamps[0]!.reason, /highest recommendation in the last 60 s was 8/);
    // At t = 60 s the 8 recommended at t = 0 is one window old and out: every recommendation left says 3.
    const after = await step(3);
    assert.equal(after.replicas, 3);
    assert.deepEqual(fleet.calls, [3]);
  });

  it('scales up by the lowest recommendation over the scale-up window', async () => {
    const { step } = setup({
      replicas: 2,
      behavior: { ...free, scaleUp: { stabilizationWindowMs: 30 * S, policies: [] } },
    });
    await step(2); // t = 0
    const held = await step(10); // t = 15 s: the window (-15 s, 15 s] holds 2 and 10
    assert.equal(held.replicas, 2);
    assert.deepEqual(guards(held), ['scaleUp.stabilization']);
    assert.equal((await step(6)).replicas, 6); // t = 30 s: (0, 30 s] holds 10 and 6
    assert.equal((await step(9)).replicas, 6); // t = 45 s: (15 s, 45 s] holds 6 and 9
  });

  it('limits the rate of change with HPA-style policies, from the count at the start of each period', async () => {
    const { step } = setup({
      replicas: 2,
      behavior: { scaleUp: { policies: [{ type: 'pods', value: 3, periodMs: 30 * S }] } },
    });
    const first = await step(20); // t = 0: 2 → 5
    assert.equal(first.replicas, 5);
    assert.deepEqual(guards(first), ['scaleUp.rate']);
    assert.match(first.clamps[0]!.reason, /\+3 pods per 30 s from 2/);
    const second = await step(20); // t = 15 s: the period began at 2 and allows 5: hold
    assert.equal(second.replicas, 5);
    const third = await step(20); // t = 30 s: the change at 0 has left the period: 5 → 8
    assert.equal(third.replicas, 8);
  });

  it('waits out the cooldown after a change', async () => {
    const { step } = setup({ replicas: 2, cooldown: { up: 30 * S, down: 60 * S } });
    assert.equal((await step(4)).replicas, 4); // t = 0
    const waiting = await step(6); // t = 15 s
    assert.equal(waiting.replicas, 4);
    assert.deepEqual(guards(waiting), ['scaleUp.cooldown']);
    assert.equal((await step(6)).replicas, 6); // t = 30 s
    const down = await step(1); // t = 45 s: 15 s after a change, down waits 60 s
    assert.deepEqual(guards(down), ['scaleDown.cooldown']);
    await step(1); // 60 s
    await step(1); // 75 s
    assert.equal((await step(1)).replicas, 1); // 90 s: 60 s after the change at 30 s
  });

  it('caps the count at the budget and reports the on-demand and preemptible split', async () => {
    const { step } = setup({
      replicas: 2,
      cost: {
        pricePerReplicaHour: 1,
        maxSpendPerHour: 10,
        preemptible: { share: 0.5, pricePerReplicaHour: 0.25 },
      },
    });
    const d = await step(40);
    // 16 replicas: 8 on demand + 8 x 0.25 = 10.
    assert.equal(d.replicas, 16);
    assert.deepEqual(guards(d), ['max', 'budget']);
    assert.deepEqual(
      { onDemand: d.cost?.onDemand, preemptible: d.cost?.preemptible, spend: d.cost?.spendPerHour },
      { onDemand: 8, preemptible: 8, spend: 10 },
    );
    assert.match(d.summary, /8 on-demand \+ 8 preemptible = 10\.00\/h of 10\.00\/h/);
  });
});

describe('warm-up', () => {
  it('leaves capacity that became ready less than warmup ago out of counted', async () => {
    const seen: number[] = [];
    const spy: ScalingPolicy = {
      name: 'spy',
      propose(input) {
        seen.push(input.counted);
        return undefined;
      },
    };
    const { step, fleet } = setup({ replicas: 2, warmup: 30 * S, policies: [wants('want'), spy] });
    fleet.lagging = true;
    await step(4); // t = 0: asks for 4, 2 ready
    fleet.ready = 4; // two became ready
    const seenReady = await step(4); // t = 15 s: seen at 15 s, warm from 45 s
    await step(4); // t = 30 s
    const warm = await step(4); // t = 45 s
    assert.deepEqual(seen, [2, 2, 2, 4]);
    assert.equal(seenReady.counted, 2);
    assert.deepEqual(seenReady.capacity, { desired: 4, ready: 4 });
    assert.equal(warm.counted, 4);
  });

  it('takes ready capacity that goes away from the warming replicas first', async () => {
    const seen: number[] = [];
    const spy: ScalingPolicy = {
      name: 'spy',
      propose(input) {
        seen.push(input.counted);
        return undefined;
      },
    };
    const { step, fleet } = setup({ replicas: 4, warmup: 60 * S, policies: [spy] });
    await step(); // 4 warm
    fleet.ready = 7;
    await step(); // 3 warming
    fleet.ready = 5;
    await step(); // 2 of the warming gone: 1 warming
    assert.deepEqual(seen, [4, 4, 4]);
  });
});

describe('modes', () => {
  it('changes nothing in dry-run, while recording what it would do', async () => {
    const { step, fleet, autoscaler } = setup({ mode: 'dry-run', replicas: 2 });
    const events: string[] = [];
    autoscaler.on('scale', () => events.push('scale'));
    const d = await step(6);
    assert.equal(d.replicas, 6);
    assert.equal(d.changed, true);
    assert.equal(d.mode, 'dry-run');
    assert.match(d.summary, /\[dry-run\] would scale 2→6/);
    await step(6);
    assert.deepEqual(fleet.calls, []);
    assert.equal(fleet.desired, 2);
    assert.deepEqual(events, []);
  });

  it('in shadow mode records the candidate and the difference, emits it, and acts on the live answer only', async () => {
    const candidate: ScalingPolicy = {
      name: 'double',
      propose: (input) => {
        const s = input.signals.get('want');
        return s && { replicas: s.value * 2, rule: 'double:want', reason: 'twice as many' };
      },
    };
    const { step, fleet, autoscaler } = setup({ replicas: 2, shadow: { policies: [candidate] } });
    const shadows: AutoscalerEvents['shadow'][] = [];
    autoscaler.on('shadow', (e) => shadows.push(e));
    const d = await step(4);
    assert.equal(d.mode, 'shadow');
    assert.equal(d.replicas, 4);
    assert.equal(d.shadow?.replicas, 8);
    assert.equal(d.shadow?.rule, 'double:want');
    assert.equal(d.shadow?.difference, 4);
    assert.deepEqual(fleet.calls, [4]);
    assert.equal(shadows.length, 1);
    assert.deepEqual(
      { live: shadows[0]?.live, candidate: shadows[0]?.candidate, difference: shadows[0]?.difference },
      { live: 4, candidate: 8, difference: 4 },
    );
    assert.match(d.summary, /shadow wants 8 \(\+4, double:want\)/);
  });

  it('runs the shadow candidate through its own behavior', async () => {
    const { step } = setup({
      replicas: 2,
      shadow: {
        policies: [wants('want')],
        behavior: { scaleUp: { policies: [{ type: 'pods', value: 1, periodMs: 60 * S }] } },
      },
    });
    const d = await step(6);
    assert.equal(d.replicas, 6);
    assert.equal(d.shadow?.replicas, 3);
    assert.deepEqual(
      d.shadow?.clamps.map((c) => c.guard),
      ['scaleUp.rate'],
    );
    assert.equal(d.shadow?.difference, -3);
  });
});

describe('rollback', () => {
  function rollbackSetup(behavior: Behavior = free) {
    const clock = new VirtualClock();
    const fleet = new Fleet(4);
    const app = gauge('app', { latency: 300 });
    // Wants one replica per 50 ms of latency.
    const latency: ScalingPolicy = {
      name: 'target:latency',
      propose(input) {
        const s = input.signals.get('latency');
        return (
          s && { replicas: Math.ceil(s.value / 50), rule: 'target:latency', reason: `latency ${s.value}` }
        );
      },
    };
    const autoscaler = createAutoscaler({
      clock,
      collectors: [app],
      policies: [latency],
      actuator: fleet,
      max: 20,
      behavior,
      analyser: passthrough,
      rollback: { windowMs: 60 * S, threshold: 0.2, holdMs: 120 * S },
    });
    const step = async (ms: number): Promise<AutoscaleDecision> => {
      app.values.latency = ms;
      const d = await autoscaler.tick();
      clock.advance(INTERVAL);
      return d;
    };
    return { autoscaler, fleet, step };
  }

  it('reverts a scale-up that made the target signal worse, flags the cause and suppresses scale-ups', async () => {
    const { autoscaler, fleet, step } = rollbackSetup();
    const events: AutoscalerEvents['rollback'][] = [];
    autoscaler.on('rollback', (e) => events.push(e));
    const up = await step(400); // t = 0: 4 → 8
    assert.equal(up.replicas, 8);
    await step(420); // 15 s: 8 → 9
    await step(450); // 30 s
    await step(480); // 45 s
    const verdict = await step(500); // 60 s: latency 400 → 500, +25% though replicas were added
    assert.equal(verdict.rule, 'rollback');
    assert.equal(verdict.replicas, 4);
    assert.equal(fleet.desired, 4);
    assert.ok(verdict.rollback);
    assert.equal(verdict.rollback.signal, 'latency');
    assert.equal(verdict.rollback.before, 400);
    assert.equal(verdict.rollback.after, 500);
    assert.equal(verdict.rollback.from, 10);
    assert.equal(verdict.rollback.to, 4);
    assert.match(verdict.rollback.cause, /did not help/);
    assert.match(verdict.rollback.cause, /bottleneck is probably elsewhere \(e\.g\. a database\)/);
    assert.match(
      verdict.summary,
      /rollback 10→4: scaling up 4→10 did not help: latency went from 400 to 500 \(\+25%\)/,
    );
    assert.equal(events.length, 1);
    assert.equal(events[0]?.seq, verdict.seq);

    // Scale-ups are suppressed for holdMs (120 s from t = 60 s).
    const suppressed = await step(500); // 75 s
    assert.equal(suppressed.replicas, 4);
    assert.deepEqual(guards(suppressed), ['rollback.hold']);
    assert.match(suppressed.clamps[0]!.reason, /suppressed for 105 s more: scaling up 4→10 did not help/);
    for (let t = 90; t < 180; t += 15) assert.equal((await step(500)).replicas, 4);
    assert.equal((await step(500)).replicas, 10); // 180 s: the hold is over
  });

  it('keeps a scale-up that helped', async () => {
    const { fleet, step } = rollbackSetup();
    await step(400); // 4 → 8
    for (let i = 0; i < 3; i++) await step(380);
    const verdict = await step(390); // 60 s: better than 400
    assert.equal(verdict.rule, 'target:latency');
    assert.equal(verdict.rollback, undefined);
    assert.equal(fleet.desired, 8);
  });

  it('allows the threshold: 15% worse is within 20%', async () => {
    const { fleet, step } = rollbackSetup();
    await step(400);
    for (let i = 0; i < 3; i++) await step(400);
    const verdict = await step(460);
    assert.equal(verdict.rollback, undefined);
    assert.equal(fleet.desired, 10);
  });
});

describe('failures', () => {
  it('records a failing collector, emits an error, and goes on with the others', async () => {
    const broken: Collector = {
      name: 'prom',
      collect() {
        throw new Error('connection refused');
      },
    };
    const { autoscaler, fleet } = setup({
      replicas: 2,
      want: 5,
      collectors: [gauge('app', { want: 5 }), broken],
    });
    const errors: AutoscalerEvents['error'][] = [];
    autoscaler.on('error', (e) => errors.push(e));
    const d = await autoscaler.tick();
    assert.deepEqual(d.failures, [{ collector: 'prom', message: 'connection refused' }]);
    assert.equal(d.replicas, 5);
    assert.deepEqual(fleet.calls, [5]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.stage, 'collect');
    assert.equal(errors[0]?.source, 'prom');
    assert.match(d.summary, /1 failed: prom \(connection refused\)/);
  });

  it('gives up on a collector at collectTimeout, aborting its signal', async () => {
    const clock = new VirtualClock();
    let aborted: unknown;
    const hanging: Collector = {
      name: 'slow',
      collect(signal) {
        return new Promise(() => {
          signal.addEventListener('abort', () => {
            aborted = signal.reason;
          });
        });
      },
    };
    const autoscaler = createAutoscaler({
      clock,
      collectors: [gauge('app', { want: 3 }), hanging],
      policies: [wants('want')],
      actuator: new Fleet(2),
      max: 10,
      behavior: free,
      analyser: passthrough,
      collectTimeout: 5 * S,
    });
    let settled: AutoscaleDecision | undefined;
    const result = (): AutoscaleDecision | undefined => settled;
    void autoscaler.tick().then((d) => {
      settled = d;
    });
    await clock.advanceAsync(4_999);
    assert.equal(result(), undefined, 'not before the deadline');
    await clock.advanceAsync(1);
    const decision = result();
    assert.ok(decision);
    assert.deepEqual(decision.failures, [{ collector: 'slow', message: 'timed out after 5 s' }]);
    assert.equal((aborted as DOMException).name, 'TimeoutError');
    assert.equal(decision.replicas, 3);
  });

  /** A collector that can be taken down, and a policy whose answer the test sets. */
  function outage(names: readonly string[]) {
    const down = new Set<string>();
    const collectors: Collector[] = names.map((name) => ({
      name,
      collect() {
        if (down.has(name)) throw new Error('unreachable');
        return { [name]: 1 };
      },
    }));
    const target = { replicas: 6 };
    const fixed: ScalingPolicy = {
      name: 'fixed',
      propose: () => ({ replicas: target.replicas, rule: 'fixed', reason: `set to ${target.replicas}` }),
    };
    return { down, collectors, target, fixed };
  }

  it('holds when every signal is stale: never scales on missing data', async () => {
    const o = outage(['app']);
    const { step, fleet } = setup({
      replicas: 6,
      collectors: o.collectors,
      policies: [o.fixed],
      staleAfter: 30 * S,
    });
    await step(); // t = 0, fresh
    o.down.add('app');
    o.target.replicas = 2;
    assert.equal((await step()).replicas, 2, 'a 15 s old reading is not stale yet');
    await step(); // 30 s: 30 s old, at the limit
    o.target.replicas = 9;
    const d = await step(); // 45 s: 45 s old
    assert.equal(d.replicas, 2);
    assert.deepEqual(d.stale, ['app']);
    assert.deepEqual(guards(d), ['stale']);
    assert.match(d.clamps[0]!.reason, /the only signal is stale \(read 45 s ago, limit 30 s\)/);
    assert.match(
      d.summary,
      /hold at 2: fixed wants 9 \(set to 9\); clamped stale 9→2; 1 failed: app \(unreachable\)/,
    );
    assert.deepEqual(fleet.calls, [2]);
  });

  it('never scales down while some signal is stale, but still scales up', async () => {
    const o = outage(['a', 'b']);
    const { step, fleet } = setup({
      replicas: 6,
      collectors: o.collectors,
      policies: [o.fixed],
      staleAfter: 20 * S,
    });
    await step(); // t = 0
    o.down.add('a');
    await step(); // 15 s
    o.target.replicas = 3;
    const down = await step(); // 30 s: a is 30 s old
    assert.equal(down.replicas, 6);
    assert.deepEqual(down.stale, ['a']);
    assert.match(down.clamps[0]!.reason, /1 of 2 signals stale \(a 30 s old; limit 20 s\)/);
    o.target.replicas = 8;
    assert.equal((await step()).replicas, 8);
    o.down.delete('a');
    o.target.replicas = 3;
    assert.equal((await step()).replicas, 3, 'fresh data may scale down again');
    assert.deepEqual(fleet.calls, [8, 3]);
  });

  it('holds and acts on nothing when the capacity cannot be read', async () => {
    const { autoscaler, fleet } = setup({ replicas: 2, want: 8 });
    fleet.capacity = () => {
      throw new Error('apiserver down');
    };
    const d = await autoscaler.tick();
    assert.equal(d.rule, 'hold');
    assert.equal(d.changed, false);
    assert.deepEqual(fleet.calls, []);
    assert.deepEqual(d.failures, [{ collector: 'capacity:fleet', message: 'apiserver down' }]);
    assert.match(d.summary, /hold at 0: capacity unknown/);
  });

  it('reports a scale the actuator refused, and tries again on the next tick', async () => {
    const { step, fleet, autoscaler } = setup({ replicas: 2 });
    const errors: AutoscalerEvents['error'][] = [];
    autoscaler.on('error', (e) => errors.push(e));
    fleet.fail = new Error('forbidden');
    await step(5);
    assert.equal(errors[0]?.stage, 'scale');
    assert.equal(errors[0]?.message, 'forbidden');
    fleet.fail = undefined;
    await step(5);
    assert.deepEqual(fleet.calls, [5, 5]);
    assert.equal(fleet.desired, 5);
  });

  it('skips a policy that throws or proposes nonsense, recording it', async () => {
    const throwing: ScalingPolicy = {
      name: 'broken',
      propose() {
        throw new Error('bug');
      },
    };
    const silly: ScalingPolicy = {
      name: 'silly',
      propose: () => ({ replicas: 2.5, rule: 'silly', reason: '' }),
    };
    const { autoscaler } = setup({ replicas: 2, want: 3, policies: [throwing, silly, wants('want')] });
    const d = await autoscaler.tick();
    assert.equal(d.replicas, 3);
    assert.deepEqual(
      d.failures.map((f) => f.collector),
      ['policy:broken', 'policy:silly'],
    );
  });
});

describe('the loop', () => {
  it('ticks at start and then every interval until stopped', async () => {
    const { clock, autoscaler } = setup();
    autoscaler.start();
    assert.equal(autoscaler.running, true);
    await clock.advanceAsync(0);
    assert.equal(autoscaler.decisions.length, 1);
    await clock.advanceAsync(45 * S);
    assert.deepEqual(
      autoscaler.decisions.map((d) => d.at),
      [0, 15 * S, 30 * S, 45 * S],
    );
    await autoscaler.stop();
    await clock.advanceAsync(60 * S);
    assert.equal(autoscaler.decisions.length, 4);
    assert.equal(clock.pending, 0);
  });

  it('reports a tick that failed as a whole and keeps the loop going', async () => {
    let broken = true;
    const { clock, autoscaler } = setup({
      analyser: () => {
        if (broken) throw new Error('analyser bug');
        return passthrough();
      },
    });
    const errors: AutoscalerEvents['error'][] = [];
    autoscaler.on('error', (e) => errors.push(e));
    autoscaler.start();
    await clock.advanceAsync(0);
    assert.deepEqual(
      errors.map((e) => [e.stage, e.message]),
      [['tick', 'analyser bug']],
    );
    broken = false;
    await clock.advanceAsync(INTERVAL);
    await autoscaler.stop();
    assert.equal(autoscaler.decisions.length, 1);
    assert.equal(autoscaler.decisions[0]?.at, INTERVAL);
  });

  it('never overlaps ticks, even when collecting takes longer than the interval', async () => {
    const clock = new VirtualClock();
    let active = 0;
    let most = 0;
    const slow: Collector = {
      name: 'slow',
      async collect() {
        active++;
        most = Math.max(most, active);
        await new Promise<void>((resolve) => clock.setTimer(resolve, 20 * S));
        active--;
        return { want: 3 };
      },
    };
    const autoscaler = createAutoscaler({
      clock,
      collectors: [slow],
      policies: [wants('want')],
      actuator: new Fleet(2),
      max: 10,
      collectTimeout: 60 * S,
      analyser: passthrough,
    });
    autoscaler.start();
    const manual = autoscaler.tick(); // shares the tick in flight
    await clock.advanceAsync(90 * S);
    const stopped = autoscaler.stop(); // the tick started at 80 s is in flight
    await clock.advanceAsync(20 * S);
    await stopped;
    assert.equal(most, 1);
    const ats = autoscaler.decisions.map((d) => d.at);
    assert.deepEqual(ats, [0, 20 * S, 40 * S, 60 * S, 80 * S]);
    assert.equal((await manual).seq, 1);
  });
});

describe('properties', () => {
  const policy = fc.record({
    type: fc.constantFrom<'pods' | 'percent'>('pods', 'percent'),
    value: fc.integer({ min: 1, max: 200 }),
    periodMs: fc.constantFrom(15 * S, 30 * S, 60 * S),
  });
  const rules = fc.record({
    stabilizationWindowMs: fc.constantFrom(0, 30 * S, 60 * S, 120 * S),
    policies: fc.array(policy, { minLength: 1, maxLength: 3 }),
    selectPolicy: fc.constantFrom<'max' | 'min'>('max', 'min'),
  });

  /** The count in force after every change made at or before `t`. */
  function countAt(changes: readonly { at: number; from: number; to: number }[], initial: number, t: number) {
    let count = initial;
    for (const c of changes) if (c.at <= t) count = c.to;
    return count;
  }

  function limit(p: RatePolicy, start: number, up: boolean): number {
    const amount = p.type === 'pods' ? p.value : Math.ceil((start * p.value) / 100 - 1e-9);
    return up ? start + amount : Math.max(0, start - amount);
  }

  it('stays within [min, max] and the rate policies, and never reverses inside a stabilization window', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 40 }),
        rules,
        rules,
        fc.record({ up: fc.constantFrom(0, 30 * S), down: fc.constantFrom(0, 45 * S) }),
        fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 40 }),
        async (min, span, start, scaleUp, scaleDown, cooldown, wanted) => {
          const max = min + span;
          const initial = Math.min(max, Math.max(min, start));
          const { step, clock } = setup({
            replicas: initial,
            min,
            max,
            behavior: { scaleUp, scaleDown },
            cooldown,
          });
          const changes: { at: number; from: number; to: number }[] = [];
          for (const want of wanted) {
            const d = await step(want);
            assert.ok(d.replicas >= min && d.replicas <= max, `${d.replicas} outside [${min}, ${max}]`);
            if (d.changed) changes.push({ at: d.at, from: d.capacity.desired, to: d.replicas });
          }
          assert.ok(clock.now() > 0);

          for (const c of changes) {
            const up = c.to > c.from;
            const r = up ? scaleUp : scaleDown;
            const limits = r.policies.map((p) => limit(p, countAt(changes, initial, c.at - p.periodMs), up));
            const loosest = up ? Math.max(...limits) : Math.min(...limits);
            const tightest = up ? Math.min(...limits) : Math.max(...limits);
            const bound = r.selectPolicy === 'max' ? loosest : tightest;
            if (up) assert.ok(c.to <= Math.max(bound, c.from), `up ${c.from}→${c.to} beyond ${bound}`);
            else assert.ok(c.to >= Math.min(bound, c.from), `down ${c.from}→${c.to} beyond ${bound}`);
          }

          for (let i = 1; i < changes.length; i++) {
            const a = changes[i - 1]!;
            const b = changes[i]!;
            const aUp = a.to > a.from;
            const bUp = b.to > b.from;
            if (aUp && !bUp)
              assert.ok(b.at - a.at >= scaleDown.stabilizationWindowMs, 'down inside the window');
            if (!aUp && bUp) assert.ok(b.at - a.at >= scaleUp.stabilizationWindowMs, 'up inside the window');
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
