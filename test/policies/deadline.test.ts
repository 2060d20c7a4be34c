import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { earliest, linkSignal, remaining } from '../../src/policies/deadline.ts';

let clock = new VirtualClock();
afterEach(() => {
  assert.equal(clock.pending, 0, 'a timer was left behind');
  clock = new VirtualClock();
});

describe('deadline: arithmetic', () => {
  it('gives the time left, never negative, and Infinity without a deadline', () => {
    clock.advance(100);
    assert.equal(remaining(clock, 350), 250);
    assert.equal(remaining(clock, 40), 0);
    assert.equal(remaining(clock, undefined), Number.POSITIVE_INFINITY);
  });

  it('takes the earlier of two deadlines, treating undefined as none', () => {
    assert.equal(earliest(10, 20), 10);
    assert.equal(earliest(20, 10), 10);
    assert.equal(earliest(undefined, 20), 20);
    assert.equal(earliest(10, undefined), 10);
    assert.equal(earliest(undefined, undefined), undefined);
  });
});

describe('deadline: linked signal', () => {
  it('aborts with the made reason when the deadline passes, and holds nothing afterwards', () => {
    const caller = new AbortController();
    const link = linkSignal(clock, caller.signal, 100, () => 'late');
    assert.equal(getEventListeners(caller.signal, 'abort').length, 1);
    clock.advance(99);
    assert.equal(link.signal.aborted, false);
    clock.advance(1);
    assert.equal(link.signal.aborted, true);
    assert.equal(link.signal.reason, 'late');
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    link.dispose();
  });

  it("aborts with the caller's reason when the caller aborts first, cancelling the timer", () => {
    const caller = new AbortController();
    const link = linkSignal(clock, caller.signal, 100, () => 'late');
    const reason = new Error('caller gave up');
    caller.abort(reason);
    assert.equal(link.signal.reason, reason);
    assert.equal(clock.pending, 0);
    link.dispose();
  });

  it('is aborted at once when the caller is already aborted', () => {
    const link = linkSignal(clock, AbortSignal.abort('gone'), 100, () => 'late');
    assert.equal(link.signal.reason, 'gone');
    assert.equal(clock.pending, 0);
  });

  it('releases its timer and listener on dispose, and ignores both afterwards', () => {
    const caller = new AbortController();
    const link = linkSignal(clock, caller.signal, 100, () => 'late');
    link.dispose();
    link.dispose();
    assert.equal(clock.pending, 0);
    assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
    caller.abort();
    clock.advance(200);
    assert.equal(link.signal.aborted, false);
  });

  it('works with only a deadline, or only a signal', () => {
    const timed = linkSignal(clock, undefined, 10, () => 'late');
    clock.advance(10);
    assert.equal(timed.signal.reason, 'late');
    const caller = new AbortController();
    const linked = linkSignal(clock, caller.signal, undefined, () => 'late');
    assert.equal(clock.pending, 0);
    caller.abort('stop');
    assert.equal(linked.signal.reason, 'stop');
  });
});
