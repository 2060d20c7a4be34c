import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { createRetryBudget } from '../../src/policies/retry-budget.ts';

describe('retry budget', () => {
  it('allows retries up to the floor when there is no traffic', () => {
    const clock = new VirtualClock();
    const budget = createRetryBudget({ ratio: 0.1, minPerSecond: 2, window: 5000, clock });
    let allowed = 0;
    while (budget.canRetry()) {
      budget.recordRetry();
      allowed++;
    }
    assert.equal(allowed, 10); // 2 per second over a 5 s window
    assert.deepEqual(budget.snapshot(), { firsts: 0, retries: 10, allowance: 10 });
  });

  it('adds ratio retries per first attempt on top of the floor', () => {
    const clock = new VirtualClock();
    const budget = createRetryBudget({ ratio: 0.1, minPerSecond: 0, window: 10_000, clock });
    for (let i = 0; i < 95; i++) budget.recordAttempt();
    let allowed = 0;
    while (budget.canRetry()) {
      budget.recordRetry();
      allowed++;
    }
    assert.equal(allowed, 9); // floor(0.1 * 95)
    for (let i = 95; i < 99; i++) budget.recordAttempt();
    assert.equal(budget.canRetry(), false); // 99 first attempts allow 9.9 retries
    budget.recordAttempt();
    assert.equal(budget.canRetry(), true); // 100 allow the tenth
  });

  it('sums the ratio allowance and the floor', () => {
    const clock = new VirtualClock();
    const budget = createRetryBudget({ ratio: 0.2, minPerSecond: 1, window: 3000, clock });
    for (let i = 0; i < 20; i++) budget.recordAttempt();
    assert.equal(budget.snapshot().allowance, 7);
  });

  it('forgets attempts and retries that leave the window', () => {
    const clock = new VirtualClock();
    const budget = createRetryBudget({ ratio: 0.5, minPerSecond: 0, window: 1000, clock });
    for (let i = 0; i < 10; i++) budget.recordAttempt();
    for (let i = 0; i < 5; i++) budget.recordRetry();
    assert.equal(budget.canRetry(), false);
    clock.advance(500);
    assert.equal(budget.canRetry(), false);
    clock.advance(500); // the first bucket has left the window
    assert.deepEqual(budget.snapshot(), { firsts: 0, retries: 0, allowance: 0 });
    assert.equal(budget.canRetry(), false);
    budget.recordAttempt();
    budget.recordAttempt();
    assert.equal(budget.canRetry(), true);
  });

  it('slides bucket by bucket: a tenth of the window at a time', () => {
    const clock = new VirtualClock();
    const budget = createRetryBudget({ ratio: 1, minPerSecond: 0, window: 1000, clock });
    for (let t = 0; t < 10; t++) {
      budget.recordAttempt();
      clock.advance(100);
    }
    assert.equal(budget.snapshot().firsts, 9); // the one at t=0 has left with its bucket
    clock.advance(450);
    assert.equal(budget.snapshot().firsts, 5);
    clock.advance(10_000);
    assert.equal(budget.snapshot().firsts, 0);
  });

  it('works on a clock that starts below zero', () => {
    const clock = new VirtualClock(-2500);
    const budget = createRetryBudget({ ratio: 1, minPerSecond: 0, window: 1000, clock });
    budget.recordAttempt();
    assert.equal(budget.canRetry(), true);
    budget.recordRetry();
    clock.advance(1000);
    assert.deepEqual(budget.snapshot(), { firsts: 0, retries: 0, allowance: 0 });
  });

  it('rejects invalid options', () => {
    assert.throws(() => createRetryBudget({ ratio: -0.1 }), isConfigError);
    assert.throws(() => createRetryBudget({ minPerSecond: Number.NaN }), isConfigError);
    assert.throws(() => createRetryBudget({ window: 0 }), /"window"/);
  });

  it('bounds retries in every window by ratio x first attempts plus the floor, for any sequence', () => {
    const event = fc.record({
      dt: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 3000 })),
      kind: fc.constantFrom('first', 'retry', 'retry', 'retry'),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(0, 0.1, 0.5, 1),
        fc.constantFrom(0, 1, 3),
        fc.constantFrom(1000, 10_000),
        fc.array(event, { maxLength: 300 }),
        (ratio, floor, window, events) => {
          const clock = new VirtualClock();
          const budget = createRetryBudget({ ratio, minPerSecond: floor, window, clock });
          const firsts: number[] = [];
          const retries: number[] = [];
          for (const e of events) {
            clock.advance(e.dt);
            if (e.kind === 'first') {
              budget.recordAttempt();
              firsts.push(clock.now());
            } else if (budget.canRetry()) {
              budget.recordRetry();
              retries.push(clock.now());
            }
          }
          // At each retry at time t: the retries of the last 0.9 window (which the budget always counts)
          // are within ratio x the first attempts of the last whole window (all it may count) + the floor.
          const covered = window * 0.9;
          for (const t of retries) {
            const recent = retries.filter((r) => r > t - covered && r <= t).length;
            const base = firsts.filter((f) => f > t - window && f <= t).length;
            if (recent > ratio * base + (floor * window) / 1000 + 1e-9) return false;
          }
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps attempts within 1.1x first attempts plus the floor during a long outage', () => {
    const clock = new VirtualClock();
    const budget = createRetryBudget({ clock }); // ratio 0.1, 1 per second, 10 s window
    let firsts = 0;
    let retries = 0;
    // 60 s at 200 calls per second, every call failing and wanting two retries.
    for (let ms = 0; ms < 60_000; ms += 5) {
      budget.recordAttempt();
      firsts++;
      for (let r = 0; r < 2 && budget.canRetry(); r++) {
        budget.recordRetry();
        retries++;
      }
      clock.advance(5);
    }
    assert.equal(firsts, 12_000);
    assert.ok(retries <= 0.1 * firsts + 1 * 70, `retries ${retries} for ${firsts} first attempts`);
    assert.ok(retries >= 0.1 * firsts, `the budget should be used: ${retries}`);
  });
});
