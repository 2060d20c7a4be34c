import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gradient2 } from '../../src/limits/gradient2.ts';
import { Round } from '../../src/limits/shared.ts';
import { windowed } from '../../src/limits/windowed.ts';
import { Fluid } from '../helpers/fluid.ts';
import { recordTimed, sample } from './helpers.ts';

/** Feeds `round` one aggregated sample every 100 ms from `from` to `to` (exclusive), restarting when ready. */
function windows(round: Round, from: number, to: number, rtt: number): void {
  for (let now = from; now < to; now += 100) {
    round.add(sample(now, rtt, 10));
    if (round.ready(now)) round.restart(now);
  }
}

describe('Round', () => {
  it('leaves out of a cohort a window whose requests began before the cohort did', () => {
    const round = new Round();
    windows(round, 0, 1000, 20);
    // Settles until 1100 (the gap between windows, longer than a round trip).
    round.cohort(1000);
    // This window's requests completed from 1050 on: most started before 1100, at the old level's queue.
    round.add(sample(1150, 40, 10));
    assert.equal(round.ready(1150), false);
    round.add(sample(1250, 20, 10));
    assert.equal(round.ready(1250), true);
    assert.equal(round.rtt, 20);
  });

  it('settles a cohort for the cadence of the samples, not for a pause in traffic', () => {
    const round = new Round();
    windows(round, 0, 1000, 20);
    // Ten seconds without a sample (a breaker held open), then windows every 100 ms again.
    round.add(sample(11_000, 20, 10));
    round.cohort(11_000);
    let judged = Number.NaN;
    for (let now = 11_100; now < 12_000 && Number.isNaN(judged); now += 100) {
      round.add(sample(now, 20, 10));
      if (round.ready(now)) judged = now;
    }
    // Settled until 11 100; the window ending at 11 300 is the first whose requests all began after it.
    assert.equal(judged, 11_300);
  });

  it('lets a probe after a pause in traffic end within a few round trips, not hold for the pause', () => {
    for (const limit of [gradient2(), windowed(gradient2(), { percentile: 0.5 })]) {
      const fluid = new Fluid(limit, { capacity: 100, baseMs: 20 });
      fluid.run(15_000);
      const before = limit.current;
      fluid.now += 10_000;
      const changes = recordTimed(limit, () => fluid.now);
      fluid.run(1000);
      const probes = changes.filter((c) => c.rule === 'probe');
      assert.ok(probes[0] !== undefined && probes[0].limit < before, `${limit.name}: a probe was due`);
      const restore = probes[1];
      assert.ok(restore !== undefined && restore.limit === before, `${limit.name}: the probe ended`);
      // A few round trips, or a few windows of 100 ms: not the 10 s of the pause.
      assert.ok(restore.t - probes[0].t <= 500, `${limit.name}: held ${restore.t - probes[0].t} ms`);
    }
  });
});
