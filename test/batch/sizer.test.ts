import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchSizer, type SizerSettings } from '../../src/batch/sizer.ts';

function sizer(settings: Partial<SizerSettings> = {}): BatchSizer {
  return new BatchSizer({
    min: 1,
    max: 1000,
    initial: 10,
    targetLatency: 100,
    tolerance: 1.5,
    backoff: 0.5,
    increase: 5,
    window: 5,
    ...settings,
  });
}

/** Feeds a full batch of the current size with the given per-item cost; returns the new size. */
function full(s: BatchSizer, perItem: number): number {
  s.success(s.size, s.size * perItem, true, s.epoch);
  return s.size;
}

describe('BatchSizer', () => {
  it('doubles on full batches whose per-item cost holds, up to max', () => {
    const s = sizer({ max: 70 });
    assert.deepEqual([full(s, 1), full(s, 0.8), full(s, 0.8), full(s, 0.8)], [20, 40, 70, 70]);
  });

  it('does not grow on batches the demand did not fill', () => {
    const s = sizer();
    s.success(3, 3, false, s.epoch);
    assert.equal(s.size, 10);
  });

  it('holds when growing made the per-item cost rise beyond the tolerance', () => {
    const s = sizer({ targetLatency: 10_000 });
    assert.equal(full(s, 1), 20);
    assert.equal(full(s, 2), 20, 'twice the per-item cost of the smaller batch: past the knee, hold');
    assert.equal(full(s, 2.5), 40, 'judged against the last full batch');
  });

  it('holds once when the sink slows at the same size, then goes on with slow start', () => {
    const s = sizer({ targetLatency: 1000 });
    assert.equal(full(s, 1), 20);
    s.success(20, 20, true, -1); // a full batch of the new size, formed before the change: a sample only
    assert.equal(full(s, 10), 20, 'ten times dearer at the same size: the sink changed, wait and see');
    assert.equal(full(s, 10), 40, 'as dear as the last: still slow start');
  });

  it('cuts in proportion when a flush is slower than the target, by at most the backoff', () => {
    const s = sizer({ initial: 100 });
    s.success(100, 125, true, s.epoch);
    assert.equal(s.size, 80); // 100 * 100 / 125
    s.success(80, 1000, true, s.epoch);
    assert.equal(s.size, 40, 'no deeper than the backoff at once');
  });

  it('fits fixed and per-item cost once sizes spread, and cuts to the size that meets the target', () => {
    const s = sizer({ initial: 100, backoff: 0.1 });
    for (const n of [20, 60, 100]) s.success(n, 10 + 2 * n, false, s.epoch);
    const model = s.model()!;
    assert.ok(Math.abs(model.fixed - 10) < 1e-9 && Math.abs(model.perItem - 2) < 1e-9);
    s.success(100, 210, true, s.epoch);
    assert.equal(s.size, 45, '(100 - 10) / 2');
  });

  it('does not cut when the fixed cost alone exceeds the target, and lets full batches grow', () => {
    const s = sizer({ initial: 10 });
    // 150 ms per statement whatever its size (a slow commit, a statement trigger): a smaller batch is no faster.
    for (const n of [2, 5, 8]) s.success(n, 150 + 0.1 * n, false, -1); // formed before: samples only
    s.success(10, 151, true, s.epoch);
    assert.equal(s.size, 20, 'slow start: carries more per statement');
    s.success(20, 152, true, s.epoch);
    assert.equal(s.size, 40);
  });

  it('grows no further than the size the model expects to take the target latency', () => {
    const s = sizer({ initial: 30 });
    for (const n of [10, 20, 30]) s.success(n, 2 * n, false, s.epoch);
    s.success(30, 60, true, s.epoch);
    assert.equal(s.size, 50, 'doubling would give 60, but 50 items take the 100 ms target');
    s.success(50, 100, true, s.epoch);
    assert.equal(s.size, 50);
  });

  it('multiplies by the backoff on a failure; slow start stops at the new threshold until flushes are fast', () => {
    const s = sizer({ initial: 64, targetLatency: 100 });
    s.failure(64, s.epoch);
    assert.equal(s.size, 32);
    s.failure(32, s.epoch);
    assert.equal(s.size, 16);
    assert.equal(full(s, 2), 16 + 5, 'at the threshold already: additive');
    assert.equal(full(s, 2), 26);
    assert.equal(full(s, 0.5), 52, 'flushes under a quarter of the target: slow start again');
  });

  it('moves only on flushes formed since the last change', () => {
    const s = sizer();
    const stale = s.epoch;
    full(s, 1);
    assert.equal(s.size, 20);
    s.failure(10, stale);
    s.success(10, 500, true, stale);
    assert.equal(s.size, 20, 'formed under the old size: no second move');
  });

  it('smooths the latency and keeps the lowest per-item cost of the window', () => {
    const s = sizer({ window: 2 });
    assert.ok(Number.isNaN(s.latency) && Number.isNaN(s.baseline));
    s.success(10, 10, false, s.epoch);
    s.success(10, 30, false, s.epoch);
    assert.equal(s.latency, 14); // 10 + 0.2 * (30 - 10)
    assert.equal(s.baseline, 1);
    s.success(10, 40, false, s.epoch);
    assert.equal(s.baseline, 3, 'the first sample has left the window');
    assert.equal(s.perItem, 4);
  });

  it('clamps a manual size into [min, max]', () => {
    const s = sizer({ min: 5, max: 50 });
    assert.equal(s.set(1)?.size, 5);
    assert.equal(s.set(80)?.size, 50);
    assert.equal(s.set(50), undefined, 'no change, no step');
  });
});
