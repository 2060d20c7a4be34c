import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConsecutiveFailures, RateRules } from '../../../src/policies/breaker/rules.ts';
import { CountWindow } from '../../../src/policies/breaker/window.ts';

describe('ConsecutiveFailures', () => {
  it('trips at the threshold and starts over after a success', () => {
    const rule = new ConsecutiveFailures(2);
    assert.equal(rule.record(true), undefined);
    assert.equal(rule.record(false), undefined);
    assert.equal(rule.record(true), undefined);
    assert.deepEqual(rule.record(true), { rule: 'consecutive-failures', failures: 2, threshold: 2 });
  });
});

describe('RateRules', () => {
  const rules = (failureRate: number | undefined, slowCallRate: number | undefined) =>
    new RateRules(new CountWindow(10), {
      minimumCalls: 10,
      failureRate,
      slowCallRate,
      slowCallDuration: 100,
    });

  it('judges 3 failures in 10 calls as reaching a 0.3 threshold despite floating point', () => {
    const r = rules(0.3, undefined);
    for (let i = 0; i < 7; i++) r.record(0, false, false);
    r.record(0, true, false);
    r.record(0, true, false);
    const trip = r.record(0, true, false);
    assert.equal(trip?.rule, 'failure-rate');
  });

  it('is judged only on a bad outcome', () => {
    const r = rules(0.5, undefined);
    for (let i = 0; i < 5; i++) r.record(0, true, false);
    for (let i = 0; i < 4; i++) r.record(0, false, false);
    assert.equal(r.record(0, false, false), undefined, 'a success never trips, even at 50%');
  });

  it('trips the slow-call rule on slow successes, and leaves disabled rules silent', () => {
    const r = rules(undefined, 0.2);
    for (let i = 0; i < 8; i++) r.record(0, true, false);
    r.record(0, false, true);
    const trip = r.record(0, false, true);
    assert.deepEqual(trip, {
      rule: 'slow-call-rate',
      calls: 10,
      slow: 2,
      rate: 0.2,
      threshold: 0.2,
      minimumCalls: 10,
      slowCallDuration: 100,
    });
  });
});
