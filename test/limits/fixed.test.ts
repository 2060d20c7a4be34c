import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import { fixedLimit } from '../../src/limits/fixed.ts';
import { sample } from './helpers.ts';

describe('fixedLimit', () => {
  it('never moves, whatever the samples say', () => {
    const limit = fixedLimit(7);
    assert.equal(limit.update(sample(10, 5, 7, true)), 7);
    assert.equal(limit.update(sample(20, 500, 7)), 7);
    assert.equal(limit.current, 7);
    assert.equal(limit.name, 'fixed');
  });

  it('says it is fixed, so the limiter can skip timing requests', () => {
    assert.equal(fixedLimit(1).fixed, true);
  });

  it('rejects a limit that is not an integer >= 1, naming the option', () => {
    for (const bad of [0, -3, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5']) {
      assert.throws(
        () => fixedLimit(bad as number),
        (e) => isConfigError(e) && e.option === 'fixed.limit',
      );
    }
  });
});
