import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Prober } from '../../src/limits/probe.ts';

/** A prober that has seen `rounds` ordinary rounds at 10 in flight, alternating `rtt` and `rtt * swing`. */
function noisy(rounds = 40, rtt = 100, swing = 1.3): Prober {
  const prober = new Prober('test', {});
  for (let i = 0; i < rounds; i++) prober.observe(i % 2 === 0 ? rtt : rtt * swing, 10);
  return prober;
}

/** A prober that has seen `rounds` identical rounds: no noise. */
function quiet(rounds = 10, rtt = 100): Prober {
  const prober = new Prober('test', {});
  for (let i = 0; i < rounds; i++) prober.observe(rtt, 10);
  return prober;
}

describe('Prober: noise', () => {
  it('measures the noise as the change of latency from one round to the next', () => {
    assert.equal(quiet().noise, 0);
    assert.ok(Math.abs(noisy().noise - Math.log(1.3)) < 0.01, `noise ${noisy().noise}`);
  });

  it("does not count the change that the algorithm's own steps explain", () => {
    const prober = new Prober('test', {});
    // A queued downstream: latency follows the concurrency the limit allows (Little's law).
    for (const inflight of [10, 11, 12, 13, 12, 11, 10, 11, 12, 11]) prober.observe(10 * inflight, inflight);
    assert.ok(prober.noise < 1e-9, `noise ${prober.noise}`);
    // No queue: latency holds whatever the concurrency.
    const clean = new Prober('test', {});
    for (const inflight of [10, 11, 12, 13, 12, 11, 10, 11, 12, 11]) clean.observe(100, inflight);
    assert.equal(clean.noise, 0);
  });
});

describe('Prober: verdicts', () => {
  it('judges a fall of 3/4 of the depth queued when rounds are steady', () => {
    const prober = quiet();
    assert.equal(prober.start(10, 100), 8);
    const result = prober.finish(1000, 82, 90);
    assert.equal(result.verdict, 'queued');
    assert.equal(result.queued, true);
    assert.equal(result.baseline, 82);
  });

  it('does not judge the same fall queued when it is within the noise of a round', () => {
    // Noise read as a verdict stepped a healthy limit down, probe after probe, to 1 of 3 slots, and lowered
    // the baseline to rounds that were fast by chance.
    const prober = noisy();
    assert.equal(prober.start(10, 100), 8);
    const result = prober.finish(1000, 82, 90);
    assert.equal(result.queued, false);
    assert.equal(result.verdict, 'unclear');
    assert.equal(result.baseline, 86, 'averaged in, not taken as a bound');
  });

  it('moves the baseline by at most half the noise margin on an unclear probe', () => {
    const prober = noisy();
    prober.start(10, 100);
    // Clean or queued? The noise cannot tell; adopting 90 would nearly double the baseline on one round.
    const result = prober.finish(1000, 90, 50);
    assert.equal(result.verdict, 'unclear');
    const margin = 2.5 * prober.noise;
    assert.ok(result.baseline <= 50 * Math.exp(margin / 2) + 1e-9, `baseline ${result.baseline}`);
    assert.ok(result.baseline > 50);
  });

  it('still adopts a clean probe far from the baseline when rounds are steady (a lasting change)', () => {
    const prober = quiet();
    prober.start(10, 100);
    const result = prober.finish(1000, 98, 50);
    assert.equal(result.verdict, 'clean');
    assert.equal(result.baseline, 98);
  });

  it('never reads a rise of latency within the noise as a clean level (a queue still draining)', () => {
    // The overload benchmark in simulation: the capacity fell to 3 of 8 slots, a probe from 11 to 9 still
    // queued, and its round, slower by 16% (requests that had waited behind the higher level), was judged
    // clean and tripled the baseline; slow start then doubled a limit already four times the capacity.
    const prober = noisy(40, 100, 1.13);
    const margin = 2.5 * prober.noise;
    const threshold = 0.75 * Math.log(10 / 8);
    // A rise of 0.2 (in log): beyond the margin the fall a queue implies leaves, within the noise margin.
    assert.ok(margin - threshold < 0.2 && 0.2 < margin, 'the noise hides the fall a queue implies');
    assert.equal(prober.start(10, 100), 8);
    const result = prober.finish(1000, 100 * Math.exp(0.2), 40);
    assert.equal(result.verdict, 'unclear');
    assert.ok(result.baseline <= 40 * Math.exp(margin / 2) + 1e-9, `baseline ${result.baseline}`);
  });

  it('measures nothing when latency rose while the limit was lowered: the downstream changed', () => {
    // Lowering concurrency cannot raise latency; a probe that began just as the capacity fell once read the
    // new queue as the no-load latency and tripled the baseline.
    const prober = quiet();
    prober.start(10, 100);
    const result = prober.finish(1000, 160, 50);
    assert.equal(result.verdict, 'changed');
    assert.equal(result.baseline, 50);
    assert.equal(prober.due(1000 + 20 * 50, 10), true, 'the next probe comes soon');
  });

  it('waits for a steady round before probing', () => {
    const prober = quiet();
    prober.schedule(0, 10, true, 10);
    prober.observe(200, 10);
    assert.equal(prober.due(1000, 10), false, 'latency just doubled: a transient');
    prober.observe(205, 10);
    assert.equal(prober.due(1000, 10), true);
  });
});
