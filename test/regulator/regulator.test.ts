import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError, isRejectedError, type RejectedError } from '../../src/core/errors.ts';
import { flushMicrotasks, VirtualClock } from '../../src/core/virtual-clock.ts';
import { createRegulator, type RateChange, type RegulatorOptions } from '../../src/regulator/index.ts';

function regulator(options: RegulatorOptions = {}) {
  const clock = new VirtualClock();
  return { clock, reg: createRegulator({ clock, ...options }) };
}

/** Settles `promise` into a plain record, so a test can assert on it without an unhandled rejection. */
function track(promise: Promise<void>, clock: VirtualClock) {
  const state: { at?: number; error?: RejectedError } = {};
  promise.then(
    () => {
      state.at = clock.now();
    },
    (error: RejectedError) => {
      state.error = error;
    },
  );
  return state;
}

function near(actual: number, expected: number, epsilon = 1e-6): void {
  assert.ok(Math.abs(actual - expected) <= epsilon, `expected ${expected}, got ${actual}`);
}

describe('createRegulator options', () => {
  const bad: [RegulatorOptions, string][] = [
    [{ rate: 0 }, 'rate'],
    [{ rate: -1 }, 'rate'],
    [{ rate: 10, min: 20 }, 'min'],
    [{ rate: 10, max: 5 }, 'rate'],
    [{ burst: 0.5 }, 'burst'],
    [{ increase: 0 }, 'increase'],
    [{ backoff: 1 }, 'backoff'],
    [{ backoff: 0 }, 'backoff'],
    [{ interval: 0 }, 'interval'],
    [{ tolerance: 0.9 }, 'tolerance'],
    [{ baselineIntervals: 0 }, 'baselineIntervals'],
    [{ queue: { size: -1 } }, 'queue.size'],
    [{ queue: { timeout: Number.NaN } }, 'queue.timeout'],
  ];
  for (const [options, option] of bad) {
    it(`rejects ${JSON.stringify(options)} naming "${option}"`, () => {
      assert.throws(
        () => createRegulator({ clock: new VirtualClock(), ...options }),
        (error) => isConfigError(error) && error.option === option && error.message.includes(option),
      );
    });
  }

  it('starts full, at the given rate', () => {
    const { reg } = regulator({ rate: 50, burst: 7 });
    assert.equal(reg.rate, 50);
    assert.equal(reg.tokens, 7);
    assert.equal(reg.snapshot().burst, 7);
  });
});

describe('token bucket', () => {
  it('refills at the rate, to the fraction', () => {
    const { clock, reg } = regulator({ rate: 10, burst: 5 });
    for (let i = 0; i < 5; i++) assert.ok(reg.tryTake());
    assert.equal(reg.tryTake(), false);
    clock.advance(100);
    near(reg.tokens, 1);
    assert.ok(reg.tryTake());
    assert.equal(reg.tryTake(), false);
    clock.advance(250);
    near(reg.tokens, 2.5);
    assert.ok(reg.tryTake(2));
    assert.equal(reg.tryTake(), false);
    near(reg.tokens, 0.5);
  });

  it('caps the bucket at burst after an idle spell', () => {
    const { clock, reg } = regulator({ rate: 100, burst: 20 });
    assert.ok(reg.tryTake(20));
    clock.advance(60_000);
    assert.equal(reg.tokens, 20);
    assert.equal(reg.tryTake(20), true);
    assert.equal(reg.tryTake(), false);
  });

  it('throws a RangeError for a cost that is not in (0, burst]', () => {
    const { reg } = regulator({ burst: 3 });
    assert.throws(() => reg.tryTake(0), RangeError);
    assert.throws(() => reg.tryTake(4), RangeError);
    assert.throws(() => reg.take(Number.NaN), RangeError);
    assert.throws(() => reg.take(1, { deadline: Number.NaN }), RangeError);
    assert.throws(() => reg.take(1, { timeout: -1 }), RangeError);
  });

  it('never holds more than burst nor grants more than burst + rate × time', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.5, max: 1000, noNaN: true }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 500, noNaN: true }), fc.integer({ min: 1, max: 5 })), {
          maxLength: 60,
        }),
        (rate, burst, steps) => {
          const { clock, reg } = regulator({ rate, burst, min: Math.min(1, rate) });
          let granted = 0;
          for (const [wait, cost] of steps) {
            clock.advance(wait);
            if (cost <= burst && reg.tryTake(cost)) granted += cost;
            const tokens = reg.tokens;
            assert.ok(tokens <= burst && tokens >= -1e-6, `tokens ${tokens}`);
          }
          assert.ok(granted <= burst + (rate * clock.now()) / 1000 + 1e-6);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('take', () => {
  it('resolves at once while tokens last', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 2 });
    const a = track(reg.take(), clock);
    const b = track(reg.take(), clock);
    await flushMicrotasks();
    assert.equal(a.at, 0);
    assert.equal(b.at, 0);
    assert.equal(reg.queued, 0);
  });

  it('serves waiters in arrival order, each when its tokens have refilled', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 2 });
    assert.ok(reg.tryTake(2));
    const order: number[] = [];
    const times: number[] = [];
    const costs = [1, 2, 1, 1];
    const all = costs.map((cost, i) =>
      reg.take(cost).then(() => {
        order.push(i);
        times.push(clock.now());
      }),
    );
    assert.equal(reg.queued, 4);
    await clock.advanceAsync(1000);
    await Promise.all(all);
    assert.deepEqual(order, [0, 1, 2, 3]);
    assert.deepEqual(
      times.map((t) => Math.round(t)),
      [100, 300, 400, 500],
    );
  });

  it('keeps one timer for the head of the queue, not one per waiter', () => {
    const { clock, reg } = regulator({ rate: 10, burst: 1, queue: { timeout: 60_000 } });
    assert.ok(reg.tryTake());
    for (let i = 0; i < 100; i++) reg.take().catch(() => {});
    assert.equal(reg.queued, 100);
    assert.equal(clock.pending, 1);
    clock.advance(1000);
    assert.equal(reg.queued, 90);
    assert.equal(clock.pending, 1);
  });

  it('does not let tryTake overtake a waiter', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 3 });
    assert.ok(reg.tryTake(2));
    const big = track(reg.take(3), clock);
    clock.advance(50);
    // Half a token more is there, but it belongs to the waiter.
    assert.equal(reg.tryTake(1), false);
    await clock.advanceAsync(200);
    near(big.at!, 200);
  });

  it('rejects with reason "aborted" and serves the rest sooner', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 1 });
    assert.ok(reg.tryTake());
    const controller = new AbortController();
    const first = track(reg.take(), clock);
    const aborted = track(reg.take(1, { signal: controller.signal }), clock);
    const last = track(reg.take(), clock);
    clock.advance(50);
    controller.abort();
    await flushMicrotasks();
    assert.equal(aborted.error?.reason, 'aborted');
    assert.equal(aborted.error?.code, 'SLUICE_ABORTED');
    assert.equal(aborted.error?.waitedMs, 50);
    assert.equal(reg.queued, 2);
    await clock.advanceAsync(1000);
    near(first.at!, 100);
    near(last.at!, 200);
  });

  it('moves the timer to the next waiter when the head aborts', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 2 });
    assert.ok(reg.tryTake(2));
    const controller = new AbortController();
    const head = track(reg.take(2, { signal: controller.signal }), clock);
    const next = track(reg.take(1), clock);
    clock.advance(100);
    controller.abort();
    await flushMicrotasks();
    // The one token refilled by now covers the next waiter at once.
    assert.equal(head.error?.reason, 'aborted');
    assert.equal(next.at, 100);
    assert.equal(clock.pending, 0);
  });

  it('rejects at once when the signal has already aborted', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 1 });
    const state = track(reg.take(1, { signal: AbortSignal.abort() }), clock);
    await flushMicrotasks();
    assert.equal(state.error?.reason, 'aborted');
    assert.equal(reg.tokens, 1);
  });

  it('rejects up front with reason "deadline" when the projected start is too late', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 1 });
    assert.ok(reg.tryTake());
    const ok = track(reg.take(1, { deadline: 100 }), clock);
    const late = track(reg.take(1, { deadline: 150 }), clock);
    await flushMicrotasks();
    assert.equal(late.error?.reason, 'deadline');
    assert.ok(isRejectedError(late.error));
    near(late.error.retryAfterMs, 200);
    assert.match(late.error.message, /regulator "default": deadline cannot be met .*retry after 200 ms/);
    await clock.advanceAsync(100);
    assert.equal(ok.at, 100);
    clock.advance(1000);
    const past = track(reg.take(1, { deadline: clock.now() - 1 }), clock);
    await flushMicrotasks();
    assert.equal(past.error?.reason, 'deadline');
  });

  it('rejects with reason "queue-timeout" when the wait would exceed the timeout', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 1, queue: { timeout: 250 } });
    assert.ok(reg.tryTake());
    const states = [1, 2, 3].map(() => track(reg.take(), clock));
    const own = track(reg.take(1, { timeout: 1000 }), clock);
    await flushMicrotasks();
    assert.deepEqual(
      states.map((s) => s.error?.reason),
      [undefined, undefined, 'queue-timeout'],
    );
    assert.equal(own.error, undefined);
    await clock.advanceAsync(1000);
    near(own.at!, 300);
  });

  it('rejects with reason "queue-full" and a retry-after when the queue is full', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 1, queue: { size: 2 } });
    assert.ok(reg.tryTake());
    track(reg.take(), clock);
    track(reg.take(), clock);
    const full = track(reg.take(), clock);
    await flushMicrotasks();
    assert.equal(full.error?.reason, 'queue-full');
    near(full.error!.retryAfterMs, 300);
    near(reg.retryAfter(), 300);
  });

  it('rejects with reason "limit" when queueing is disabled', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 1, queue: false });
    assert.ok(reg.tryTake());
    const state = track(reg.take(), clock);
    await flushMicrotasks();
    assert.equal(state.error?.reason, 'limit');
    near(state.error!.retryAfterMs, 100);
  });

  it('sheds waiters that a cut leaves unable to start in time', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 1, backoff: 0.5 });
    assert.ok(reg.tryTake());
    // At 10/s they would start at 100, 200 and 300 ms.
    const first = track(reg.take(1, { deadline: 150 }), clock);
    const second = track(reg.take(1, { deadline: 350 }), clock);
    const third = track(reg.take(1, { deadline: 300 }), clock);
    reg.record('dropped');
    await flushMicrotasks();
    assert.equal(reg.rate, 5);
    // At 5/s the first could start at 200 only, so it goes; the second moves up to 200 and stays; the
    // third, now due at 400, goes.
    assert.equal(first.error?.reason, 'deadline');
    assert.equal(second.error, undefined);
    assert.equal(third.error?.reason, 'deadline');
    assert.equal(reg.queued, 1);
    await clock.advanceAsync(1000);
    near(second.at!, 200);
  });
});

/**
 * Drives `reg` at `perSecond` evenly spaced calls, each recorded after `latency(now)` as a success.
 * Returns a function that stops it.
 */
function healthyLoad(
  clock: VirtualClock,
  reg: ReturnType<typeof createRegulator>,
  perSecond: number,
  latency: (now: number) => number = () => 20,
) {
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    if (reg.tryTake()) {
      const rtt = latency(clock.now());
      clock.setTimer(() => reg.record('success', rtt), rtt);
    }
    clock.setTimer(tick, 1000 / perSecond);
  };
  tick();
  return () => {
    stopped = true;
  };
}

describe('adaptation', () => {
  it('raises the rate additively while latency holds and nothing drops', () => {
    const { clock, reg } = regulator({ rate: 10, burst: 10, increase: 2, interval: 1000 });
    const changes: RateChange[] = [];
    reg.on('rate', (c) => changes.push(c));
    healthyLoad(clock, reg, 100);
    clock.advance(5_050);
    assert.equal(reg.rate, 20);
    assert.deepEqual(
      changes.map((c) => [c.previous, c.rate, c.rule]),
      [
        [10, 12, 'increase'],
        [12, 14, 'increase'],
        [14, 16, 'increase'],
        [16, 18, 'increase'],
        [18, 20, 'increase'],
      ],
    );
    const first = changes[0]!;
    assert.equal(first.regulator, 'default');
    assert.equal(first.signals['latency'], 20);
    assert.equal(first.signals['baseline'], 20);
    assert.ok(first.signals['demand']! >= first.signals['capacity']!);
  });

  it('does not raise an idle rate', () => {
    const { clock, reg } = regulator({ rate: 100, burst: 10, increase: 10 });
    healthyLoad(clock, reg, 20);
    clock.advance(10_000);
    assert.equal(reg.rate, 100);
  });

  it('stops raising once latency climbs past baseline × tolerance', () => {
    const { clock, reg } = regulator({ rate: 10, burst: 10, increase: 5, tolerance: 1.5 });
    // Latency is 20 ms for 3 s, then 40 ms: twice the baseline.
    healthyLoad(clock, reg, 100, (now) => (now < 3000 ? 20 : 40));
    clock.advance(10_000);
    assert.equal(reg.rate, 25);
    assert.equal(reg.snapshot().baseline, 20);
    assert.equal(reg.snapshot().latency, 40);
  });

  it('raises on successes alone when no latency is given', () => {
    const { clock, reg } = regulator({ rate: 10, burst: 10, increase: 1 });
    for (let t = 0; t <= 2000; t += 100) {
      clock.advanceTo(t);
      reg.tryTake();
      reg.record('success');
    }
    assert.equal(reg.rate, 12);
  });

  it('cuts the rate by the backoff factor on a drop, once per interval', () => {
    const { clock, reg } = regulator({ rate: 100, backoff: 0.5, interval: 1000 });
    const changes: RateChange[] = [];
    reg.on('rate', (c) => changes.push(c));
    for (let i = 0; i < 50; i++) reg.record('dropped');
    assert.equal(reg.rate, 50);
    clock.advance(999);
    reg.record('dropped');
    assert.equal(reg.rate, 50);
    clock.advance(1);
    reg.record('dropped');
    assert.equal(reg.rate, 25);
    assert.deepEqual(
      changes.map((c) => [c.previous, c.rate, c.rule]),
      [
        [100, 50, 'drop'],
        [50, 25, 'drop'],
      ],
    );
    // Every drop since the previous cut, the one that triggered this cut included.
    assert.equal(changes[1]!.signals['drops'], 51);
    assert.equal(changes[1]!.signals['sinceCutMs'], 1000);
  });

  it('does not raise in an interval that saw drops', () => {
    const { clock, reg } = regulator({ rate: 10, burst: 10, increase: 5, interval: 1000 });
    reg.record('dropped');
    assert.equal(reg.rate, 8);
    healthyLoad(clock, reg, 100);
    clock.advance(500);
    // A late drop from before the cut: no second cut, but the interval does not count as healthy.
    reg.record('dropped');
    clock.advance(600);
    assert.equal(reg.rate, 8);
    clock.advance(1000);
    assert.equal(reg.rate, 13);
  });

  it('ignores "ignore" outcomes', () => {
    const { reg } = regulator({ rate: 10 });
    for (let i = 0; i < 10; i++) reg.record('ignore');
    assert.equal(reg.rate, 10);
  });

  it('keeps the rate within [min, max]', () => {
    const { clock, reg } = regulator({ rate: 10, min: 4, max: 12, burst: 10, increase: 5, backoff: 0.5 });
    const stop = healthyLoad(clock, reg, 100);
    clock.advance(5000);
    assert.equal(reg.rate, 12);
    stop();
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      reg.record('dropped');
    }
    assert.equal(reg.rate, 4);
  });

  it('publishes each change on sluice:regulator:rate, and setRate as rule "manual"', () => {
    const { reg } = regulator({ name: 'api', rate: 10 });
    const seen: unknown[] = [];
    const onMessage = (message: unknown) => seen.push(message);
    subscribe('sluice:regulator:rate', onMessage);
    try {
      reg.setRate(30);
      reg.setRate(30);
    } finally {
      unsubscribe('sluice:regulator:rate', onMessage);
    }
    assert.deepEqual(seen, [
      { regulator: 'api', at: 0, previous: 10, rate: 30, rule: 'manual', signals: {} },
    ]);
    assert.throws(() => reg.setRate(0), RangeError);
  });

  it('serves waiters sooner when the rate rises', async () => {
    const { clock, reg } = regulator({ rate: 10, burst: 1 });
    assert.ok(reg.tryTake());
    const waiter = track(reg.take(), clock);
    clock.advance(50);
    reg.setRate(20);
    await clock.advanceAsync(100);
    near(waiter.at!, 75);
  });
});

describe('against a downstream limited to R requests per second', () => {
  /**
   * A downstream that admits R req/s (a token bucket of R/10) and answers the rest "dropped", 20 ms later.
   * Callers offer 3R req/s through the regulator, which starts at R/5.
   */
  function run(R: number, seconds: number) {
    const clock = new VirtualClock();
    const reg = createRegulator({ clock, rate: R / 5, increase: R / 10, burst: R / 10, interval: 1000 });
    let capacity = R / 10;
    let refilledAt = 0;
    const perSecond: { ok: number; dropped: number; rate: number }[] = [];
    for (let s = 0; s < seconds; s++) perSecond.push({ ok: 0, dropped: 0, rate: 0 });
    const downstream = (now: number): boolean => {
      capacity = Math.min(R / 10, capacity + ((now - refilledAt) * R) / 1000);
      refilledAt = now;
      if (capacity < 1) return false;
      capacity -= 1;
      return true;
    };
    const sample = (): void => {
      const s = perSecond[Math.floor(clock.now() / 1000)];
      if (s !== undefined) s.rate = reg.rate;
    };
    const tick = (): void => {
      if (reg.tryTake()) {
        const ok = downstream(clock.now());
        const bucket = perSecond[Math.floor(clock.now() / 1000)]!;
        if (ok) bucket.ok++;
        else bucket.dropped++;
        clock.setTimer(() => reg.record(ok ? 'success' : 'dropped', 20), 20);
      }
      if (clock.now() < seconds * 1000 - 1000 / (3 * R)) clock.setTimer(tick, 1000 / (3 * R));
    };
    for (let s = 0; s < seconds; s++) clock.setTimer(sample, s * 1000 + 999);
    tick();
    clock.advance(seconds * 1000);
    return perSecond;
  }

  for (const R of [50, 200, 1000]) {
    it(`holds near R = ${R} within 15 s of virtual time`, () => {
      const trace = run(R, 60);
      const settled = trace.slice(15);
      const ok = settled.reduce((n, s) => n + s.ok, 0);
      const dropped = settled.reduce((n, s) => n + s.dropped, 0);
      const goodput = ok / settled.length;
      for (const s of settled) {
        assert.ok(s.rate >= 0.8 * R && s.rate <= 1.25 * R, `rate ${s.rate} strays from ${R}`);
      }
      // Measured: about 0.98 R and under 1% drops for each R here.
      assert.ok(goodput >= 0.95 * R, `goodput ${goodput}/s is under 95% of ${R}`);
      assert.ok(dropped / (ok + dropped) <= 0.02, `drop ratio ${dropped / (ok + dropped)}`);
    });
  }
});
