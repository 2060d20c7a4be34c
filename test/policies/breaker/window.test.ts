import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CountWindow, TimeWindow } from '../../../src/policies/breaker/window.ts';

describe('CountWindow', () => {
  it('holds the last `size` outcomes', () => {
    const w = new CountWindow(3);
    w.record(0, true, true);
    w.record(0, false, false);
    w.record(0, false, true);
    assert.deepEqual([w.calls, w.failures, w.slow], [3, 1, 2]);
    w.record(0, false, false); // evicts the failed, slow one
    assert.deepEqual([w.calls, w.failures, w.slow], [3, 0, 1]);
  });

  it('forgets everything on clear', () => {
    const w = new CountWindow(2);
    w.record(0, true, true);
    w.clear();
    assert.deepEqual([w.calls, w.failures, w.slow], [0, 0, 0]);
    w.record(0, true, false);
    w.record(0, true, false);
    w.record(0, false, false);
    assert.deepEqual([w.calls, w.failures], [2, 1]);
  });
});

describe('TimeWindow', () => {
  it('drops a call between duration - step and duration after it was recorded', () => {
    const w = new TimeWindow(1000, 10);
    w.record(150, true, false); // bucket [100, 200)
    w.roll(1099);
    assert.equal(w.calls, 1);
    w.roll(1100);
    assert.equal(w.calls, 0, 'its bucket is reused at 1100: 950 ms after the call');
  });

  it('clears every bucket after a gap longer than the window', () => {
    const w = new TimeWindow(100, 4);
    for (let t = 0; t < 100; t += 10) w.record(t, t % 20 === 0, true);
    assert.deepEqual([w.calls, w.failures, w.slow], [10, 5, 10]);
    w.roll(10_000);
    assert.deepEqual([w.calls, w.failures, w.slow], [0, 0, 0]);
  });

  it('records into the newest bucket when the clock moves back', () => {
    const w = new TimeWindow(100, 10);
    w.record(55, false, false);
    w.record(20, true, false);
    assert.deepEqual([w.calls, w.failures], [2, 1]);
    w.roll(149);
    assert.equal(w.calls, 2);
    w.roll(150);
    assert.equal(w.calls, 0, 'both left with the bucket of the newer one');
  });

  it('keeps totals equal to a brute-force count of the calls in its window', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ gap: fc.integer({ min: 0, max: 70 }), failed: fc.boolean(), slow: fc.boolean() }),
          {
            maxLength: 200,
          },
        ),
        (calls) => {
          const duration = 200;
          const buckets = 8;
          const step = duration / buckets;
          const w = new TimeWindow(duration, buckets);
          const log: { bucket: number; failed: boolean; slow: boolean }[] = [];
          let now = 0;
          for (const c of calls) {
            now += c.gap;
            w.record(now, c.failed, c.slow);
            log.push({ bucket: Math.floor(now / step), failed: c.failed, slow: c.slow });
            const head = Math.floor(now / step);
            const live = log.filter((e) => e.bucket > head - buckets);
            assert.equal(w.calls, live.length);
            assert.equal(w.failures, live.filter((e) => e.failed).length);
            assert.equal(w.slow, live.filter((e) => e.slow).length);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
