import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import {
  type Breaker,
  type BreakerEvents,
  type BreakerOptions,
  CircuitOpenError,
  createBreaker,
  isCircuitOpenError,
} from '../../src/policies/breaker.ts';

type StateEvent = BreakerEvents['state'];

function setup(options: BreakerOptions = {}) {
  const clock = new VirtualClock();
  const breaker = createBreaker({ clock, ...options });
  const states: StateEvent[] = [];
  breaker.on('state', (e) => states.push(e));
  return { clock, breaker, states };
}

/** Settles `n` calls the breaker lets through as failures (asserting it lets them through). */
function fail(breaker: Breaker, n = 1): void {
  for (let i = 0; i < n; i++) pass(breaker).failure(new Error('boom'));
}

function succeed(breaker: Breaker, n = 1): void {
  for (let i = 0; i < n; i++) pass(breaker).success();
}

function pass(breaker: Breaker, priority?: string) {
  const ticket = breaker.tryPass(priority);
  assert.ok(ticket, `expected ${breaker.name} (${breaker.state}) to let the call through`);
  return ticket;
}

/** Only the consecutive-failure rule, opening for 1 s, doubling to at most 8 s. */
const consecutive: BreakerOptions = {
  consecutiveFailures: 3,
  failureRate: false,
  openDuration: 1000,
  maxOpenDuration: 8000,
};

describe('createBreaker: closed -> open', () => {
  it('opens after consecutiveFailures failures in a row, with the run in the reason', () => {
    const { breaker, states } = setup(consecutive);
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed');
    fail(breaker);
    assert.equal(breaker.state, 'open');
    assert.deepEqual(
      states.map((s) => [s.from, s.to]),
      [['closed', 'open']],
    );
    assert.deepEqual(states[0]!.reason, { rule: 'consecutive-failures', failures: 3, threshold: 3 });
    assert.equal(states[0]!.openMs, 1000);
  });

  it('starts the run over after any success', () => {
    const { breaker } = setup(consecutive);
    fail(breaker, 2);
    succeed(breaker);
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().consecutiveFailures, 2);
  });

  it('opens when the failure rate over a count window reaches the threshold', () => {
    const { breaker, states } = setup({
      consecutiveFailures: false,
      failureRate: 0.5,
      window: { count: 10 },
      minimumCalls: 10,
    });
    succeed(breaker, 5);
    fail(breaker, 4);
    assert.equal(breaker.state, 'closed', 'nine calls: under the minimum volume');
    fail(breaker);
    assert.equal(breaker.state, 'open');
    assert.deepEqual(states[0]!.reason, {
      rule: 'failure-rate',
      calls: 10,
      failures: 5,
      rate: 0.5,
      threshold: 0.5,
      minimumCalls: 10,
    });
  });

  it('forgets calls beyond the count window', () => {
    const { breaker } = setup({
      consecutiveFailures: false,
      failureRate: 0.5,
      window: { count: 4 },
      minimumCalls: 4,
    });
    fail(breaker);
    succeed(breaker, 4); // the failure has left the window
    assert.deepEqual(breaker.snapshot().window, {
      calls: 4,
      failures: 0,
      slow: 0,
      failureRate: 0,
      slowCallRate: 0,
    });
    fail(breaker);
    assert.equal(breaker.state, 'closed', 'one failure in the last four calls is 25%');
    fail(breaker);
    assert.equal(breaker.state, 'open', 'two failures in the last four calls is 50%');
  });

  it('opens when the failure rate over a time window reaches the threshold', () => {
    const { breaker, clock, states } = setup({
      consecutiveFailures: false,
      failureRate: 0.3,
      window: { duration: 1000, buckets: 10 },
      minimumCalls: 10,
    });
    for (let i = 0; i < 7; i++) {
      succeed(breaker);
      clock.advance(10);
    }
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed');
    fail(breaker);
    assert.equal(breaker.state, 'open');
    const reason = states[0]!.reason;
    assert.equal(reason.rule, 'failure-rate');
    assert.equal(reason.rule === 'failure-rate' && reason.failures, 3);
  });

  it('forgets calls older than the time window', () => {
    const { breaker, clock } = setup({
      consecutiveFailures: false,
      failureRate: 0.5,
      window: { duration: 1000, buckets: 10 },
      minimumCalls: 4,
    });
    fail(breaker, 3);
    clock.advance(500);
    assert.equal(breaker.snapshot().window.calls, 3);
    clock.advance(600);
    assert.equal(breaker.snapshot().window.calls, 0, 'all three have left a 1 s window after 1.1 s');
    fail(breaker);
    assert.equal(breaker.state, 'closed', 'one call: under the minimum volume');
    assert.equal(breaker.snapshot().window.failures, 1);
  });

  it('opens when the slow-call rate reaches the threshold, though every call succeeded', () => {
    const { breaker, clock, states } = setup({
      consecutiveFailures: false,
      failureRate: false,
      slowCallRate: 0.5,
      slowCallDuration: 100,
      window: { count: 4 },
      minimumCalls: 4,
    });
    const fast = () => {
      const t = pass(breaker);
      clock.advance(10);
      t.success();
    };
    const slow = () => {
      const t = pass(breaker);
      clock.advance(150);
      t.success();
    };
    fast();
    fast();
    slow();
    assert.equal(breaker.state, 'closed');
    slow();
    assert.equal(breaker.state, 'open');
    assert.deepEqual(states[0]!.reason, {
      rule: 'slow-call-rate',
      calls: 4,
      slow: 2,
      rate: 0.5,
      threshold: 0.5,
      minimumCalls: 4,
      slowCallDuration: 100,
    });
  });

  it('never trips a rate rule below the minimum volume, even at 100% failures', () => {
    const { breaker } = setup({ consecutiveFailures: false, failureRate: 0.5, minimumCalls: 3 });
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().window.failureRate, 1);
    fail(breaker);
    assert.equal(breaker.state, 'open');
  });

  it('does not trip on two calls with the defaults', () => {
    const { breaker } = setup();
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed');
  });
});

describe('createBreaker: open', () => {
  it('rejects fast with a CircuitOpenError naming the breaker, its state and the time to half-open', async () => {
    const { breaker, clock } = setup({ ...consecutive, name: 'payments' });
    fail(breaker, 3);
    clock.advance(400);
    let ran = false;
    const error = await breaker
      .execute(() => {
        ran = true;
      })
      .then(
        () => assert.fail('expected a rejection'),
        (e: unknown) => e,
      );
    assert.equal(ran, false);
    assert.ok(isCircuitOpenError(error));
    assert.ok(error instanceof CircuitOpenError);
    assert.equal(error.code, 'SLUICE_CIRCUIT_OPEN');
    assert.equal(error.breaker, 'payments');
    assert.equal(error.state, 'open');
    assert.equal(error.retryAfterMs, 600);
    assert.match(error.message, /circuit "payments" is open; retry after 600 ms/);
    assert.equal(breaker.tryPass(), undefined);
  });

  it('emits a reject event for each refused call', () => {
    const { breaker } = setup(consecutive);
    const rejects: BreakerEvents['reject'][] = [];
    breaker.on('reject', (e) => rejects.push(e));
    fail(breaker, 3);
    breaker.tryPass('high');
    assert.equal(rejects.length, 1);
    assert.deepEqual(rejects[0], {
      breaker: 'breaker',
      at: 0,
      state: 'open',
      priority: 'high',
      retryAfterMs: 1000,
      enforced: true,
    });
  });

  it('half-opens once the open duration has passed', () => {
    const { breaker, clock, states } = setup(consecutive);
    fail(breaker, 3);
    clock.advance(999);
    assert.equal(breaker.state, 'open');
    clock.advance(1);
    assert.equal(breaker.state, 'half-open');
    assert.deepEqual(states[1], {
      breaker: 'breaker',
      at: 1000,
      from: 'open',
      to: 'half-open',
      reason: { rule: 'open-elapsed', openMs: 1000 },
      openMs: undefined,
    });
  });
});

describe('createBreaker: half-open', () => {
  function halfOpen(options: BreakerOptions = {}) {
    const s = setup({ ...consecutive, ...options });
    fail(s.breaker, 3);
    s.clock.advance(1000);
    return s;
  }

  it('lets at most `probes` calls through at once and rejects the rest fast', () => {
    const { breaker } = halfOpen({ halfOpen: { probes: 2, successes: 3 } });
    const a = pass(breaker);
    const b = pass(breaker);
    assert.equal(a.role, 'probe');
    assert.equal(breaker.tryPass(), undefined);
    assert.equal(breaker.openError().state, 'half-open');
    assert.equal(breaker.openError().retryAfterMs, 0);
    a.success();
    const c = pass(breaker);
    assert.equal(breaker.tryPass(), undefined);
    assert.equal(breaker.snapshot().probesInFlight, 2);
    b.success();
    c.success();
    assert.equal(breaker.state, 'closed');
  });

  it('closes after `successes` successful probes, with a fresh window and run', () => {
    const { breaker, states } = halfOpen({ halfOpen: { successes: 2 } });
    succeed(breaker);
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.snapshot().probeSuccesses, 1);
    succeed(breaker);
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(states.at(-1)!.reason, { rule: 'probes-succeeded', successes: 2 });
    const snap = breaker.snapshot();
    assert.equal(snap.window.calls, 0);
    assert.equal(snap.consecutiveFailures, 0);
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed', 'the run before the open does not carry over');
  });

  it('re-opens on one failed probe', () => {
    const { breaker, states } = halfOpen({ halfOpen: { probes: 3, successes: 3 } });
    const a = pass(breaker);
    const b = pass(breaker);
    a.success();
    b.failure();
    assert.equal(breaker.state, 'open');
    assert.deepEqual(states.at(-1)!.reason, { rule: 'probe-failure' });
  });

  it('re-opens on a slow probe when the slow-call rule is on', () => {
    const { breaker, clock, states } = halfOpen({ slowCallRate: 0.5, slowCallDuration: 100 });
    const t = pass(breaker);
    clock.advance(120);
    t.success();
    assert.equal(breaker.state, 'open');
    assert.deepEqual(states.at(-1)!.reason, { rule: 'probe-slow', durationMs: 120, slowCallDuration: 100 });
  });

  it('frees the slot of an ignored probe without counting it', () => {
    const { breaker } = halfOpen();
    pass(breaker).ignore();
    assert.equal(breaker.state, 'half-open');
    succeed(breaker);
    assert.equal(breaker.state, 'closed');
  });

  it('does not count outcomes of calls admitted before the breaker opened', () => {
    const { breaker, clock } = setup(consecutive);
    const late = pass(breaker);
    fail(breaker, 3);
    clock.advance(1000);
    const probe = pass(breaker);
    late.failure();
    assert.equal(breaker.state, 'half-open', 'a call from the closed period does not re-open');
    assert.equal(breaker.tryPass(), undefined, 'nor does it free the probe slot');
    probe.success();
    assert.equal(breaker.state, 'closed');
  });

  it('settles a ticket once: later settlements are ignored', () => {
    const { breaker } = halfOpen({ halfOpen: { successes: 2 } });
    const t = pass(breaker);
    t.success();
    t.failure();
    t.success();
    assert.equal(t.settled, true);
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.snapshot().probeSuccesses, 1);
  });
});

describe('createBreaker: open-duration backoff', () => {
  it('stays open openBackoff times longer after each re-open, up to maxOpenDuration', () => {
    const { breaker, clock, states } = setup(consecutive);
    fail(breaker, 3);
    for (let i = 0; i < 5; i++) {
      clock.advance(states.at(-1)!.openMs!);
      fail(breaker); // the probe fails
    }
    assert.deepEqual(
      states.filter((s) => s.to === 'open').map((s) => s.openMs),
      [1000, 2000, 4000, 8000, 8000, 8000],
    );
    assert.equal(breaker.snapshot().opens, 6);
    clock.advance(7999);
    assert.equal(breaker.state, 'open');
    clock.advance(1);
    assert.equal(breaker.state, 'half-open');
  });

  it('by default opens for 1 s, then 2 s, then 4 s at most: a recovery is noticed within 4 s', () => {
    // The old defaults (5 s doubling to 60 s) kept a breaker open until 25 s after a 10 s outage that
    // began at 10 s: the first probe failed at 15 s, and the next came 10 s later.
    const { breaker, clock, states } = setup({ consecutiveFailures: 3, failureRate: false });
    fail(breaker, 3);
    for (let i = 0; i < 4; i++) {
      clock.advance(states.at(-1)!.openMs!);
      fail(breaker);
    }
    assert.deepEqual(
      states.filter((s) => s.to === 'open').map((s) => s.openMs),
      [1000, 2000, 4000, 4000, 4000],
    );
  });

  it('by default backs off to four times a given openDuration', () => {
    const { breaker, clock, states } = setup({
      consecutiveFailures: 1,
      failureRate: false,
      openDuration: 500,
    });
    fail(breaker);
    for (let i = 0; i < 3; i++) {
      clock.advance(states.at(-1)!.openMs!);
      fail(breaker);
    }
    assert.deepEqual(
      states.filter((s) => s.to === 'open').map((s) => s.openMs),
      [500, 1000, 2000, 2000],
    );
  });

  it('starts the backoff over after a successful probe, even one that does not close the breaker', () => {
    const { breaker, clock, states } = setup({ ...consecutive, halfOpen: { successes: 2 } });
    fail(breaker, 3);
    clock.advance(1000);
    fail(breaker); // probe fails: open 2 s
    clock.advance(2000);
    fail(breaker); // probe fails: open 4 s
    clock.advance(4000);
    succeed(breaker); // one of the two successes needed: still half-open
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.snapshot().nextOpenMs, 1000);
    fail(breaker);
    assert.deepEqual(
      states.filter((s) => s.to === 'open').map((s) => s.openMs),
      [1000, 2000, 4000, 1000],
    );
  });

  it('starts over after a healthy close', () => {
    const { breaker, clock, states } = setup(consecutive);
    fail(breaker, 3);
    clock.advance(1000);
    fail(breaker);
    clock.advance(2000);
    succeed(breaker);
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().nextOpenMs, 1000);
    fail(breaker, 3);
    assert.equal(states.at(-1)!.openMs, 1000);
  });
});

describe('createBreaker: isolate and reset', () => {
  it('holds the breaker isolated, whatever time passes, until the handle is disposed', () => {
    const { breaker, clock, states } = setup(consecutive);
    const handle = breaker.isolate();
    assert.equal(breaker.state, 'isolated');
    assert.equal(breaker.tryPass('critical'), undefined);
    clock.advance(1_000_000);
    assert.equal(breaker.state, 'isolated');
    const error = breaker.openError();
    assert.equal(error.state, 'isolated');
    assert.equal(error.retryAfterMs, 1000);
    handle.dispose();
    handle.dispose();
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(
      states.map((s) => [s.from, s.to, s.reason.rule]),
      [
        ['closed', 'isolated', 'isolate'],
        ['isolated', 'closed', 'isolation-ended'],
      ],
    );
  });

  it('nests isolations and works with `using`', () => {
    const { breaker } = setup();
    const outer = breaker.isolate();
    {
      using _inner = breaker.isolate();
      assert.equal(breaker.snapshot().isolations, 2);
    }
    assert.equal(breaker.state, 'isolated');
    outer[Symbol.dispose]();
    assert.equal(breaker.state, 'closed');
  });

  it('isolates an open breaker and, when released, closes it with the backoff reset', () => {
    const { breaker, clock } = setup(consecutive);
    fail(breaker, 3);
    clock.advance(1000);
    fail(breaker);
    const handle = breaker.isolate();
    handle.dispose();
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().nextOpenMs, 1000);
  });

  it('reset() closes from any state, forgets the window and voids isolation handles', () => {
    const { breaker, states } = setup(consecutive);
    fail(breaker, 3);
    breaker.reset();
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(states.at(-1)!.reason, { rule: 'reset' });
    const handle = breaker.isolate();
    breaker.reset();
    assert.equal(breaker.state, 'closed');
    const again = breaker.isolate();
    handle.dispose(); // voided by the reset: must not end the new isolation
    assert.equal(breaker.state, 'isolated');
    again.dispose();
    fail(breaker, 2);
    breaker.reset();
    assert.equal(breaker.snapshot().consecutiveFailures, 0);
    assert.equal(breaker.snapshot().window.calls, 0);
  });

  it('reset() voids the outcomes of calls still in flight', () => {
    const { breaker } = setup(consecutive);
    fail(breaker, 2);
    const inflight = pass(breaker);
    breaker.reset();
    inflight.failure();
    assert.equal(breaker.snapshot().consecutiveFailures, 0);
  });
});

describe('createBreaker: conservative mode', () => {
  function openConservative(options: BreakerOptions = {}) {
    const s = setup({ ...consecutive, openDuration: 10_000, maxOpenDuration: 60_000, ...options });
    fail(s.breaker, 3);
    return s;
  }

  it('lets critical calls trickle through while open, one per interval, and refuses the rest', () => {
    const { breaker, clock } = openConservative({ conservative: { interval: 1000 } });
    assert.equal(breaker.tryPass(), undefined, 'a call of default priority');
    assert.equal(breaker.tryPass('high'), undefined);
    const first = pass(breaker, 'critical');
    assert.equal(first.role, 'trickle');
    first.failure();
    assert.equal(breaker.tryPass('critical'), undefined, 'within the interval');
    clock.advance(1000);
    const second = pass(breaker, 'critical');
    assert.equal(breaker.state, 'open', 'a failed trickle call changes nothing while open');
    clock.advance(1000);
    assert.equal(breaker.tryPass(0), undefined, 'concurrency 1: the second is still in flight');
    second.ignore();
    assert.equal(pass(breaker, 'critical').role, 'trickle');
  });

  it('bounds the trickle by concurrency', () => {
    const { breaker, clock } = openConservative({
      conservative: { priority: 'high', concurrency: 2, interval: 0 },
    });
    const a = pass(breaker, 'high');
    pass(breaker, 'critical');
    assert.equal(breaker.tryPass('critical'), undefined);
    assert.equal(breaker.snapshot().trickleInFlight, 2);
    a.failure();
    clock.advance(1);
    pass(breaker, 'critical');
  });

  it('half-opens early when a trickle call succeeds, counting it as a probe', () => {
    const { breaker, states } = openConservative({ conservative: true, halfOpen: { successes: 2 } });
    pass(breaker, 'critical').success();
    assert.equal(breaker.state, 'half-open');
    assert.deepEqual(states.at(-1)!.reason, { rule: 'trickle-success' });
    assert.equal(breaker.snapshot().probeSuccesses, 1);
    succeed(breaker);
    assert.equal(breaker.state, 'closed');
  });

  it('lets critical calls through half-open beyond the probes, as trickle calls that also judge', () => {
    const { breaker, clock } = openConservative({ conservative: true, halfOpen: { probes: 1 } });
    clock.advance(10_000);
    const probe = pass(breaker);
    assert.equal(probe.role, 'probe');
    assert.equal(breaker.tryPass(), undefined);
    const critical = pass(breaker, 'critical');
    assert.equal(critical.role, 'trickle');
    critical.failure();
    assert.equal(breaker.state, 'open');
  });

  it('lets nothing through while isolated', () => {
    const { breaker } = setup({ conservative: true });
    breaker.isolate();
    assert.equal(breaker.tryPass('critical'), undefined);
  });

  it('ranks priorities by the configured levels', () => {
    const { breaker } = openConservative({
      priorities: ['interactive', 'batch'],
      conservative: { priority: 'interactive', interval: 0 },
    });
    assert.equal(breaker.tryPass('batch'), undefined);
    assert.equal(pass(breaker, 'interactive').role, 'trickle');
    assert.throws(() => breaker.tryPass('critical'), { code: 'SLUICE_CONFIG', option: 'priority' });
  });
});

describe('createBreaker: fail-open', () => {
  it('never refuses a call, yet runs the same state machine and reports would-be rejections', async () => {
    const { breaker, clock } = setup({ ...consecutive, failOpen: true });
    const rejects: BreakerEvents['reject'][] = [];
    breaker.on('reject', (e) => rejects.push(e));
    fail(breaker, 3);
    assert.equal(breaker.state, 'open');
    const shadow = pass(breaker);
    assert.equal(shadow.role, 'shadow');
    assert.equal(await breaker.execute(() => 42), 42);
    assert.equal(rejects.length, 2);
    assert.equal(rejects[0]!.enforced, false);
    clock.advance(1000);
    shadow.success(); // the outcome of a would-be-refused call is not recorded
    assert.equal(breaker.state, 'half-open');
    const probe = pass(breaker);
    assert.equal(probe.role, 'probe');
    assert.equal(pass(breaker).role, 'shadow');
    probe.success();
    assert.equal(breaker.state, 'closed');
  });
});

describe('createBreaker: which errors count', () => {
  it('counts thrown errors, rethrows them, and passes the call context to the work', async () => {
    const { breaker } = setup(consecutive);
    const controller = new AbortController();
    const seen = await breaker.execute((ctx) => ctx, {
      signal: controller.signal,
      priority: 'high',
      attempt: 2,
      deadline: 500,
    });
    assert.deepEqual(seen, { signal: controller.signal, deadline: 500, attempt: 2, priority: 'high' });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        breaker.execute(() => {
          throw new TypeError('bug');
        }),
        TypeError,
      );
    }
    assert.equal(breaker.state, 'open');
  });

  it('ignores local rejections and aborts the caller asked for, by default', async () => {
    const { breaker } = setup(consecutive);
    const rejected = new RejectedError('limit', { limit: 1, inflight: 1, queued: 0, retryAfterMs: 10 });
    const inner = new CircuitOpenError({ breaker: 'inner', state: 'open', retryAfterMs: 5 });
    const controller = new AbortController();
    controller.abort();
    for (let i = 0; i < 5; i++) {
      await assert.rejects(breaker.execute(() => Promise.reject(rejected)));
      await assert.rejects(breaker.execute(() => Promise.reject(inner)));
      await assert.rejects(
        breaker.execute(() => Promise.reject(controller.signal.reason), { signal: controller.signal }),
      );
    }
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().window.calls, 0);
  });

  it('counts an AbortError the caller did not ask for', async () => {
    const { breaker } = setup(consecutive);
    const abort = new DOMException('aborted downstream', 'AbortError');
    const live = new AbortController().signal;
    for (let i = 0; i < 3; i++) {
      await assert.rejects(breaker.execute(() => Promise.reject(abort), { signal: live }));
    }
    assert.equal(breaker.state, 'open');
  });

  it('reads a predicate: true fails, false is a healthy answer, "ignore" is not recorded', async () => {
    const { breaker } = setup({
      ...consecutive,
      isFailure: (e) => ((e as Error).message === 'ignore' ? 'ignore' : (e as Error).message === '5xx'),
    });
    const run = (message: string) =>
      assert.rejects(breaker.execute(() => Promise.reject(new Error(message))));
    await run('5xx');
    await run('5xx');
    await run('ignore');
    assert.equal(breaker.snapshot().consecutiveFailures, 2);
    await run('404');
    assert.equal(breaker.snapshot().consecutiveFailures, 0, 'a healthy answer ends the run');
    assert.equal(breaker.snapshot().window.calls, 3);
  });

  it('leaves the call unrecorded, its probe slot free, when the predicate throws', async () => {
    const { breaker, clock } = setup({
      ...consecutive,
      isFailure: (e) => {
        if ((e as Error).message === 'odd') throw new RangeError('predicate bug');
        return true;
      },
    });
    fail(breaker, 3);
    clock.advance(1000);
    await assert.rejects(
      breaker.execute(() => Promise.reject(new Error('odd'))),
      RangeError,
    );
    assert.equal(breaker.state, 'half-open');
    succeed(breaker);
    assert.equal(breaker.state, 'closed');
  });

  it('settles a ticket from a thrown error through the predicate', () => {
    const { breaker } = setup(consecutive);
    const controller = new AbortController();
    controller.abort();
    pass(breaker).threw(controller.signal.reason, controller.signal);
    pass(breaker).threw(new Error('boom'));
    assert.equal(breaker.snapshot().window.calls, 1);
    assert.equal(breaker.snapshot().consecutiveFailures, 1);
  });

  it('reports successes and failures with their durations', () => {
    const { breaker, clock } = setup({ slowCallDuration: 50 });
    const seen: unknown[] = [];
    breaker.on('success', (e) => seen.push(e));
    breaker.on('failure', (e) => seen.push(e));
    const t = pass(breaker);
    clock.advance(60);
    t.success();
    const error = new Error('x');
    pass(breaker).failure(error);
    assert.deepEqual(seen, [
      { breaker: 'breaker', at: 60, role: 'call', durationMs: 60, slow: true },
      { breaker: 'breaker', at: 60, role: 'call', durationMs: 0, slow: false, error },
    ]);
  });
});

describe('createBreaker: options', () => {
  const bad: [string, BreakerOptions][] = [
    ['name', { name: '' }],
    ['clock', { clock: {} as never }],
    ['consecutiveFailures', { consecutiveFailures: 0 }],
    ['consecutiveFailures', { consecutiveFailures: 2.5 }],
    ['failureRate', { failureRate: 0 }],
    ['failureRate', { failureRate: 1.5 }],
    ['failureRate', { failureRate: true as never }],
    ['slowCallRate', { slowCallRate: -0.1, slowCallDuration: 10 }],
    ['slowCallDuration', { slowCallRate: 0.5 }],
    ['slowCallDuration', { slowCallDuration: 0 }],
    ['window', { window: { count: 5, duration: 100 } as never }],
    ['window', { window: {} as never }],
    ['window.count', { window: { count: 0 } }],
    ['window.duration', { window: { duration: -1 } }],
    ['window.buckets', { window: { duration: 1000, buckets: 0 } }],
    ['minimumCalls', { window: { count: 10 }, minimumCalls: 11 }],
    ['minimumCalls', { minimumCalls: 0 }],
    ['openDuration', { openDuration: 0 }],
    ['openBackoff', { openBackoff: 0.5 }],
    ['openDuration', { openDuration: 5000, maxOpenDuration: 1000 }],
    ['maxOpenDuration', { maxOpenDuration: Number.POSITIVE_INFINITY }],
    ['halfOpen.probes', { halfOpen: { probes: 0 } }],
    ['halfOpen.successes', { halfOpen: { successes: 1.5 } }],
    ['isFailure', { isFailure: 'yes' as never }],
    ['conservative', { conservative: 'on' as never }],
    ['conservative.priority', { conservative: { priority: 'vip' } }],
    ['conservative.priority', { conservative: { priority: 9 } }],
    ['conservative.concurrency', { conservative: { concurrency: 0 } }],
    ['conservative.interval', { conservative: { interval: -1 } }],
    ['priorities', { priorities: ['a', 'a'] }],
    ['priorities', { priorities: 0 }],
    ['failOpen', { failOpen: 'true' as never }],
  ];
  for (const [option, options] of bad) {
    it(`rejects ${JSON.stringify(options)}, naming "${option}"`, () => {
      assert.throws(
        () => createBreaker(options),
        (e: unknown) => {
          assert.equal((e as { code?: unknown }).code, 'SLUICE_CONFIG');
          assert.equal((e as { option?: unknown }).option, option);
          return true;
        },
      );
    });
  }

  it('defaults minimumCalls to a count window smaller than 20', () => {
    const { breaker } = setup({ consecutiveFailures: false, window: { count: 4 } });
    fail(breaker, 4);
    assert.equal(breaker.state, 'open');
  });

  it('is a Policy named after its name option', () => {
    assert.equal(createBreaker().name, 'breaker');
    assert.equal(createBreaker({ name: 'db' }).name, 'db');
  });
});
