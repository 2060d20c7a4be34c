import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultLimit } from '../../src/limiter/limiter.ts';
import { gradient2 } from '../../src/limits/gradient2.ts';
import type { Limit } from '../../src/limits/limit.ts';
import { vegas } from '../../src/limits/vegas.ts';
import { windowed } from '../../src/limits/windowed.ts';

/** A seeded, noisy latency: lognormal around `median` (sigma 0.5). */
function noisy(seed: number): (median: number) => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (median) => {
    const z = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
    return median * Math.exp(0.5 * z);
  };
}

/**
 * Runs a closed loop of `limit.current` requests of ~20 ms for `ms`, or answers each with a fast drop when
 * `outage`, and returns the time (ms on the samples' clock) reached.
 */
function drive(
  limit: Limit,
  from: number,
  ms: number,
  outage: boolean,
  latency: (m: number) => number,
): number {
  let now = from;
  while (now < from + ms) {
    const n = limit.current;
    const step = outage ? 5 : 20;
    for (let i = 0; i < n; i++) {
      limit.update({ now, rtt: outage ? 5 : latency(20), inflight: n, dropped: outage });
    }
    now += step;
  }
  return now;
}

describe('recovery after an outage of fast drops', () => {
  for (const [name, make] of [
    ['the default limit', defaultLimit],
    ['gradient2', () => gradient2()],
    ['windowed vegas', () => windowed(vegas(), { percentile: 0.5 })],
  ] as const) {
    it(`${name} climbs back from a limit of one within 5 s`, () => {
      // At a limit of one a probe cannot lower the limit, yet each probe took the round and reset the
      // estimate's growth: the default limit stayed pinned at one for 13 s after the downstream recovered.
      const limit = make();
      const latency = noisy(7);
      let now = drive(limit, 0, 15_000, false, latency);
      assert.ok(limit.current >= 8, `healthy limit ${limit.current}`);
      now = drive(limit, now, 10_000, true, latency);
      assert.equal(limit.current, 1);
      drive(limit, now, 5_000, false, latency);
      assert.ok(limit.current >= 8, `limit ${limit.current} 5 s after recovery`);
    });
  }
});
