import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../../src/core/errors.ts';
import { SignalAnalyser } from '../../../src/scale/analyse.ts';
import { burst } from '../../../src/scale/policies/burst.ts';
import { targetTracking } from '../../../src/scale/policies/target-tracking.ts';
import type { PolicyInput, ScalingPolicy } from '../../../src/scale/types.ts';
import { input, signal } from './helpers.ts';

describe('burst', () => {
  const inflight = burst({ signal: 'inflight', target: 10, readiness: 30_000 });

  it('has no opinion below threshold x target', () => {
    assert.equal(inflight.propose(input({ inflight: 19.9 })), undefined);
    assert.equal(inflight.propose(input({ inflight: 19.9 }, { counted: 4, desired: 9 })), undefined);
  });

  it('asks at once for the replicas the load needs once past the threshold', () => {
    const out = inflight.propose(input({ inflight: 50 }, { counted: 4 }));
    assert.deepEqual(out, {
      replicas: 20,
      rule: 'burst:inflight',
      reason:
        'inflight 50 is 5x the target 10 on 4 replicas ready (burst at 2x): load 200 needs 20, 4 asked for: 20',
    });
    assert.equal(inflight.propose(input({ inflight: 20 }, { counted: 4 }))?.replicas, 8, 'at the threshold');
  });

  it('sizes for the load expected when new capacity is ready: slope x readiness', () => {
    // +0.5 per replica per second on 4 replicas is +2/s; over 30 s, 60 more.
    const out = inflight.propose(input({ inflight: signal(50, { slope: 0.5 }) }, { counted: 4 }));
    assert.equal(out?.replicas, 26);
    assert.match(out!.reason, /load 200 \+ 60 by the trend over 30 s of readiness needs 26/);
    const falling = inflight.propose(input({ inflight: signal(50, { slope: -3 }) }, { counted: 4 }));
    assert.equal(falling?.replicas, 20, 'a falling trend does not shrink the answer');
    const flat = burst({ signal: 'inflight', target: 10, readiness: 30_000, trend: false });
    assert.equal(flat.propose(input({ inflight: signal(50, { slope: 0.5 }) }))?.replicas, 20);
  });

  it('does not ask again for capacity already starting, and never for less', () => {
    const out = inflight.propose(input({ inflight: 50 }, { counted: 4, desired: 22 }));
    assert.deepEqual(out, {
      replicas: 22,
      rule: 'burst:inflight',
      reason:
        'inflight 50 is 5x the target 10 on 4 replicas ready (burst at 2x): load 200 needs 20, the 18 starting cover it: hold 22',
    });
    assert.equal(inflight.propose(input({ inflight: 50 }, { counted: 4, desired: 12 }))?.replicas, 20);
  });

  it('reads a fleet total, and scales it up from zero', () => {
    const rps = burst({ signal: 'rps', target: 100, per: 'total', readiness: 10_000 });
    assert.equal(rps.propose(input({ rps: 1000 }, { counted: 4 }))?.replicas, 10);
    assert.equal(rps.propose(input({ rps: 700 }, { counted: 4 })), undefined, '1.75x is no burst');
    const fromZero = rps.propose(input({ rps: 250 }, { counted: 0, desired: 0 }));
    assert.equal(fromZero?.replicas, 3);
    assert.match(fromZero!.reason, /^rps 250 with no ready replica: load 250 needs 3/);
    assert.equal(rps.propose(input({ rps: 0 }, { counted: 0, desired: 0 })), undefined);
  });

  it('has no opinion on a per-replica signal with no replica ready, or without its signal', () => {
    assert.equal(inflight.propose(input({ inflight: 50 }, { counted: 0, desired: 4 })), undefined);
    assert.equal(inflight.propose(input({ rps: 50 })), undefined);
  });

  it('rejects invalid options, naming them', () => {
    const ok = { signal: 's', target: 10, readiness: 1000 };
    for (const [options, option] of [
      [{ ...ok, signal: 3 }, 'burst.signal'],
      [{ ...ok, target: 0 }, 'burst.target'],
      [{ ...ok, threshold: 1 }, 'burst.threshold'],
      [{ ...ok, threshold: Number.POSITIVE_INFINITY }, 'burst.threshold'],
      [{ signal: 's', target: 10 }, 'burst.readiness'],
      [{ ...ok, readiness: -1 }, 'burst.readiness'],
      [{ ...ok, readiness: Number.POSITIVE_INFINITY }, 'burst.readiness'],
      [{ ...ok, per: 'pod' }, 'burst.per'],
      [{ ...ok, trend: 'yes' }, 'burst.trend'],
      [{ ...ok, use: 'p99' }, 'burst.use'],
    ] as const) {
      assert.throws(
        () => burst(options as never),
        (e: unknown) => isConfigError(e) && e.option === option,
        option,
      );
    }
  });
});

/**
 * A fleet under a closed-form load: `load(t)` requests in flight, spread over the ready replicas; new
 * replicas become ready `readiness` ms after they are asked for. Each tick the per-replica load is read into
 * a SignalAnalyser, the policies propose, and the largest proposal is applied at once (no guards).
 */
function fleet(options: {
  readonly policies: readonly ScalingPolicy[];
  readonly load: (t: number) => number;
  readonly replicas: number;
  readonly readiness: number;
  readonly tick: number;
  readonly until: number;
}): { at: number; desired: number; ready: number }[] {
  const readyAt: number[] = Array.from({ length: options.replicas }, () => 0);
  const analyser = new SignalAnalyser({ horizon: options.readiness });
  const history: { at: number; desired: number; ready: number }[] = [];
  for (let t = options.tick; t <= options.until; t += options.tick) {
    const ready = readyAt.filter((r) => r <= t).length;
    analyser.update(options.load(t) / ready, t);
    const policyInput: PolicyInput = {
      now: t,
      capacity: { desired: readyAt.length, ready },
      counted: ready,
      signals: new Map([['inflight', analyser.signal(t)!]]),
    };
    const proposals = options.policies.map((p) => p.propose(policyInput)).filter((p) => p !== undefined);
    const wanted = proposals.length === 0 ? readyAt.length : Math.max(...proposals.map((p) => p.replicas));
    while (readyAt.length < wanted) readyAt.push(t + options.readiness);
    while (readyAt.length > Math.max(1, wanted)) readyAt.pop(); // the newest (starting) go first
    history.push({ at: t, desired: readyAt.length, ready });
  }
  return history;
}

describe('burst on a fleet', () => {
  const tick = 15_000;
  const readiness = 45_000; // three ticks
  const spikeAt = 300_000;
  const spike = (t: number): number => (t >= spikeAt ? 200 : 40); // 4 replicas at their target, then 5x

  it('absorbs a 5x spike within two decision cycles without flooding while capacity starts', () => {
    const history = fleet({
      policies: [
        targetTracking({ signal: 'inflight', target: 10 }),
        burst({ signal: 'inflight', target: 10, readiness }),
      ],
      load: spike,
      replicas: 4,
      readiness,
      tick,
      until: 600_000,
    });
    const after = history.filter((h) => h.at >= spikeAt);
    assert.ok(after[1]!.desired >= 20, `asked for ${after[1]!.desired} by the second cycle`);
    const peak = Math.max(...after.map((h) => h.desired));
    assert.ok(peak <= 30, `asked for at most ${peak}, not a flood`);
    assert.ok(after.at(-1)!.ready >= 20, 'the load is carried in the end');
  });

  it('absorbs it within two cycles even when the first cycle sees only part of the spike', () => {
    const ramp = (t: number): number => (t < spikeAt ? 40 : t < spikeAt + tick ? 120 : 200);
    const history = fleet({
      policies: [burst({ signal: 'inflight', target: 10, readiness })],
      load: ramp,
      replicas: 4,
      readiness,
      tick,
      until: 450_000,
    });
    const after = history.filter((h) => h.at >= spikeAt);
    assert.ok(after[0]!.desired >= 12 && after[0]!.desired < 20, `first cycle ${after[0]!.desired}`);
    assert.ok(after[1]!.desired >= 20, `second cycle ${after[1]!.desired}`);
  });

  it('does better than multiplying the capacity asked for by the overload on ready replicas, which floods', () => {
    // Knative's panic rule in its simplest form: desired x (per-replica load / target), ignoring start-up.
    const panic: ScalingPolicy = {
      name: 'panic',
      propose: (i) => {
        const v = i.signals.get('inflight')!.value;
        return v >= 20
          ? { replicas: Math.ceil((i.capacity.desired * v) / 10), rule: 'panic', reason: '' }
          : undefined;
      },
    };
    const run = (policy: ScalingPolicy): number =>
      Math.max(
        ...fleet({ policies: [policy], load: spike, replicas: 4, readiness, tick, until: 450_000 }).map(
          (h) => h.desired,
        ),
      );
    const flooded = run(panic);
    const burstPeak = run(burst({ signal: 'inflight', target: 10, readiness, trend: false }));
    assert.ok(flooded >= 100, `panic asked for ${flooded}`);
    assert.equal(burstPeak, 20);
  });
});
