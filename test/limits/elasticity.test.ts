import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Elasticity } from '../../src/limits/elasticity.ts';

/** Rounds at each of `levels` in flight, latency `rtt(inflight)` times a noise of +/-`noise` alternating. */
function rounds(levels: readonly number[], rtt: (inflight: number) => number, noise = 0.1): Elasticity {
  const e = new Elasticity();
  levels.forEach((inflight, i) => {
    e.add(inflight, rtt(inflight) * (i % 2 === 0 ? 1 + noise : 1 - noise));
  });
  return e;
}

const cuts = [20, 18, 16, 14, 12, 10, 9, 8];

describe('Elasticity', () => {
  it('is flat when latency held while concurrency fell: a slower downstream', () => {
    assert.equal(rounds(cuts, () => 66).flat(), true);
  });

  it('is not flat when latency followed concurrency: a queue', () => {
    assert.equal(rounds(cuts, (n) => 15 * n).flat(), false);
    // A queue on top of a fixed delay still answers clearly: 50 ms away, 10 ms per request beyond 3 slots.
    assert.equal(rounds(cuts, (n) => 50 + (10 * n) / 3).flat(), false);
  });

  it('gives no verdict on a transient: latency still rising while concurrency fell', () => {
    // The rounds after a sudden capacity drop: requests that started before it finish fast, later ones wait.
    const e = new Elasticity();
    const transient: [number, number][] = [
      [22, 10],
      [18, 25],
      [14, 40],
      [10, 45],
      [8, 35],
      [6, 20],
      [5, 15],
    ];
    for (const [inflight, rtt] of transient) e.add(inflight, rtt);
    assert.equal(e.flat(), false);
  });

  it('gives no verdict without a twofold spread of concurrency or enough rounds', () => {
    assert.equal(rounds([20, 19, 18, 17, 16, 15, 14, 13, 12, 11], () => 66).flat(), false, 'spread 1.8');
    assert.equal(rounds([20, 14, 10, 8, 6], () => 66).flat(), false, 'five rounds');
    assert.equal(rounds([20, 14, 10, 8, 6, 5], () => 66).flat(), true, 'six rounds');
    assert.equal(rounds([20, 20, 20, 9, 9, 9], () => 66).flat(), false, 'two levels');
  });

  it('forgets its rounds on clear, and ignores rounds without requests or latency', () => {
    const e = rounds(cuts, () => 66);
    e.clear();
    assert.equal(e.flat(), false);
    for (const _ of cuts) e.add(0, 66);
    e.add(Number.NaN, 66);
    e.add(10, 0);
    assert.equal(e.flat(), false);
  });

  it('remembers the level the cuts started from while many rounds arrive at the level they reached', () => {
    const e = new Elasticity();
    e.add(20, 66);
    e.add(13, 70);
    for (let i = 0; i < 40; i++) e.add(8, i % 2 === 0 ? 60 : 72);
    assert.equal(e.flat(), true);
    assert.ok(Math.abs(e.peak - 20) < 1e-9, `peak ${e.peak}`);
  });

  it("follows a level's recent rounds rather than its first", () => {
    const e = new Elasticity();
    for (let i = 0; i < 8; i++) {
      e.add(20, 300);
      e.add(13, 195);
      e.add(8, 120);
    }
    assert.equal(e.flat(), false, 'a queue: latency proportional to concurrency');
    for (let i = 0; i < 30; i++) {
      e.add(20, 120);
      e.add(13, 120);
    }
    assert.equal(e.flat(), true, 'the levels of 20 and 13 now answer as fast as the level of 8');
  });
});
