import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Gradient2Options, gradient2 } from '../../src/limits/gradient2.ts';
import { type VegasOptions, vegas } from '../../src/limits/vegas.ts';
import { Fluid } from '../helpers/fluid.ts';
import { recordTimed, settled } from './helpers.ts';

// What the delay-based limits share (`RoundLimit`): a baseline that neither creeps up under a standing queue
// nor misses a lasting change, probes that cost little, and a slower downstream told from a queue.
const algorithms = [
  {
    name: 'gradient2',
    make: (options?: Gradient2Options) => gradient2(options),
    // The most the limit settles at over a capacity of 100 (its queue allowance).
    settlesBelow: 110,
    // How long the baseline takes to follow the downstream back down (ms).
    backDownMs: 5000,
  },
  {
    name: 'vegas',
    make: (options?: VegasOptions) => vegas(options),
    settlesBelow: 115,
    backDownMs: 3000,
  },
];

for (const { name, make, settlesBelow, backDownMs } of algorithms) {
  describe(`${name}, as a delay-based limit`, () => {
    it('does not let a standing queue lift its no-load latency, so the limit does not creep up', () => {
      const limit = make();
      const fluid = new Fluid(limit, { capacity: 100, baseMs: 20 });
      fluid.run(10_000);
      const [lo, hi] = settled(fluid, 110_000, () => limit.probing);
      assert.equal(limit.rttNoLoad, 20);
      assert.ok(lo >= 100 && hi <= settlesBelow, `limit in [${lo}, ${hi}]`);
    });

    it('follows a lasting change in the downstream latency within seconds, and keeps the limit', () => {
      const limit = make();
      const fluid = new Fluid(limit, { capacity: 100, baseMs: 20 });
      fluid.run(20_000);
      fluid.options.baseMs = 40;
      fluid.run(3000);
      assert.ok(Math.abs(limit.rttNoLoad - 40) <= 2, `rttNoLoad ${limit.rttNoLoad}`);
      const [lo, hi] = settled(fluid, 20_000, () => limit.probing);
      assert.ok(lo >= 100 && hi <= settlesBelow, `limit in [${lo}, ${hi}]`);
      fluid.options.baseMs = 20;
      fluid.run(backDownMs);
      assert.ok(Math.abs(limit.rttNoLoad - 20) <= 1, `back down: rttNoLoad ${limit.rttNoLoad}`);
    });

    it('without probes still follows a slower downstream, from how latency answered its cuts', () => {
      // Before the limit read latency against concurrency, it had only probes to learn this: without them the
      // no-load latency stayed at 20 ms and the limit collapsed below 20.
      const limit = make({ probeInterval: Number.POSITIVE_INFINITY });
      const fluid = new Fluid(limit, { capacity: 100, baseMs: 20 });
      const changes = recordTimed(limit, () => fluid.now);
      fluid.run(20_000);
      fluid.options.baseMs = 40;
      fluid.run(10_000);
      const rebaselines = changes.filter((c) => c.rule === 'rebaseline');
      assert.equal(rebaselines.length, 1);
      assert.equal(rebaselines[0]!.signals.previousRttNoLoad, 20);
      assert.ok(Math.abs(limit.rttNoLoad - 40) <= 2, `rttNoLoad ${limit.rttNoLoad}`);
      assert.ok(limit.current >= 100, `limit ${limit.current}`);
    });

    it('probes by lowering the limit at most 20% for a few round trips, about every 10 s', () => {
      const limit = make();
      const fluid = new Fluid(limit, { capacity: 100, baseMs: 20 });
      const changes = recordTimed(limit, () => fluid.now);
      fluid.run(61_000);
      const probes = changes.filter((c) => c.rule === 'probe');
      const cuts = probes.filter((c) => c.limit < c.previous);
      assert.ok(cuts.length >= 6 && cuts.length <= 8, `${cuts.length} probes in 60 s`);
      for (const cut of cuts) {
        assert.ok(cut.limit >= Math.floor(cut.previous * 0.8), `${cut.previous} -> ${cut.limit}`);
        const restore = probes.find((c) => c.t > cut.t);
        assert.ok(restore !== undefined && restore.limit === cut.previous, 'restored to the level it left');
        assert.ok(restore.t - cut.t <= 10 * 20, `held lowered for ${restore.t - cut.t} ms`);
      }
    });
  });
}
