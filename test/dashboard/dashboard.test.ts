import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { createDashboard, type DashboardState, isDashboardClosedError } from '../../src/dashboard/index.ts';
import { History, Ring } from '../../src/dashboard/ring.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import { createBreaker } from '../../src/policies/breaker.ts';
import { createRegulator } from '../../src/regulator/regulator.ts';
import { createAutoscaler } from '../../src/scale/controller.ts';
import type { Capacity, PolicyInput } from '../../src/scale/types.ts';
import { PressureMeter } from '../../src/signals/pressure.ts';
import { ManualLimit, settle } from '../helpers/manual-limit.ts';

/** The values of the line `label` of chart `chart` (by title prefix) of group `name`. */
function line(state: DashboardState, name: string, chart: string, label: string): (number | null)[] {
  const group = state.groups.find((g) => g.name === name);
  assert.ok(group, `group ${name}`);
  const c = group.charts.find((x) => x.title.startsWith(chart));
  assert.ok(c, `chart ${chart} of ${name}: ${group.charts.map((x) => x.title).join(', ')}`);
  const l = c.lines.find((x) => x.label === label);
  assert.ok(l, `line ${label} of ${chart}: ${c.lines.map((x) => x.label).join(', ')}`);
  return [...l.values];
}

async function fail(breaker: ReturnType<typeof createBreaker>): Promise<void> {
  await assert.rejects(breaker.execute(() => Promise.reject(new Error('down'))));
}

describe('History', () => {
  it('keeps the last `capacity` samples of every series, aligned with the time axis', () => {
    const h = new History(3);
    h.add('a');
    h.push(1, new Map([['a', 10]]));
    h.add('b'); // a series that starts late has no values before
    h.push(2, new Map([['b', 20]]));
    h.push(
      3,
      new Map([
        ['a', 30],
        ['b', 31],
      ]),
    );
    h.push(4, new Map([['a', 40]]));
    assert.deepEqual(h.times(), [2, 3, 4]);
    assert.deepEqual(h.values('a'), [null, 30, 40]);
    assert.deepEqual(h.values('b'), [20, 31, null]);
    assert.deepEqual(h.values('unknown'), [null, null, null]);
  });

  it('holds exactly the last min(n, capacity) values pushed, in order, for any n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer(), { maxLength: 60 }), (cap, xs) => {
        const h = new History(cap);
        h.add('x');
        xs.forEach((x, i) => {
          h.push(i, new Map([['x', x]]));
        });
        const kept = xs.slice(Math.max(0, xs.length - cap));
        assert.deepEqual(h.values('x'), kept);
        assert.deepEqual(
          h.times(),
          kept.map((_, i) => xs.length - kept.length + i),
        );
      }),
    );
  });

  it('Ring keeps the last `capacity` items, oldest first', () => {
    const r = new Ring<number>(2);
    assert.deepEqual(r.toArray(), []);
    for (const x of [1, 2, 3]) r.push(x);
    assert.deepEqual(r.toArray(), [2, 3]);
  });
});

describe('createDashboard sampling', () => {
  it('samples every tracked value once per sampleEvery, on the clock', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock, sampleEvery: 1000 });
    const limiter = createLimiter({ name: 'api', clock, limit: new ManualLimit(4), queue: { size: 10 } });
    dashboard.track(limiter);
    const permits = [limiter.tryAcquire(), limiter.tryAcquire(), limiter.tryAcquire()];
    clock.advance(999);
    assert.equal(dashboard.state().times.length, 0);
    clock.advance(1);
    permits[0]!.success();
    clock.advance(1000);
    const state = dashboard.state();
    assert.deepEqual(state.times, [1000, 2000]);
    assert.equal(state.now, 2000);
    assert.deepEqual(line(state, 'api', 'Limit', 'limit'), [4, 4]);
    assert.deepEqual(line(state, 'api', 'Limit', 'in flight'), [3, 2]);
    assert.deepEqual(line(state, 'api', 'Limit', 'queued'), [0, 0]);
    assert.equal(state.groups[0]!.kind, 'limiter');
    await dashboard.close();
  });

  it('keeps `history` samples per line: memory stays the same however long it runs', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock, history: 5 });
    const limiter = createLimiter({ name: 'api', clock, limit: new ManualLimit(1) });
    dashboard.track(limiter);
    clock.advance(3000);
    const lines = (s: DashboardState) => s.groups.flatMap((g) => g.charts.flatMap((c) => c.lines)).length;
    const before = lines(dashboard.state());
    clock.advance(60_000);
    const state = dashboard.state();
    assert.deepEqual(state.times, [59_000, 60_000, 61_000, 62_000, 63_000]);
    assert.equal(lines(state), before);
    for (const g of state.groups)
      for (const c of g.charts) for (const l of c.lines) assert.equal(l.values.length, 5);
    await dashboard.close();
  });

  it('charts rejections per second by reason, counting only what happened after tracking', async () => {
    const clock = new VirtualClock();
    const limiter = createLimiter({ name: 'api', clock, limit: new ManualLimit(1), queue: false });
    const held = limiter.tryAcquire();
    limiter.tryAcquire(); // rejected before tracking: not charted
    const dashboard = createDashboard({ clock, sampleEvery: 500 });
    dashboard.track(limiter);
    for (let i = 0; i < 3; i++) limiter.tryAcquire();
    clock.advance(500);
    clock.advance(500);
    limiter.tryAcquire();
    clock.advance(500);
    assert.deepEqual(line(dashboard.state(), 'api', 'Rejections', 'limit'), [6, 0, 2]);
    held!.success();
    await dashboard.close();
  });

  it('charts the time waited in the queue: mean and max per interval, 0 when nobody waited', async () => {
    const clock = new VirtualClock();
    const limiter = createLimiter({
      name: 'api',
      clock,
      limit: new ManualLimit(1),
      queue: { size: 10, interval: 1000 },
    });
    const dashboard = createDashboard({ clock });
    dashboard.track(limiter);
    const first = limiter.tryAcquire()!;
    const waiting = [limiter.acquire(), limiter.acquire()];
    clock.advance(100);
    first.success();
    await settle();
    const second = await waiting[0]!; // waited 100 ms
    clock.advance(300);
    second.success();
    (await waiting[1]!).success(); // waited 400 ms
    clock.advance(600);
    clock.advance(1000);
    const s = dashboard.state();
    assert.deepEqual(line(s, 'api', 'Latency', 'mean wait'), [0.25, 0]);
    assert.deepEqual(line(s, 'api', 'Latency', 'max wait'), [0.4, 0]);
    await dashboard.close();
  });

  it('charts a breaker state as the index of its state, and a regulator rate', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock });
    const breaker = createBreaker({ name: 'db', clock, consecutiveFailures: 1, openDuration: 5000 });
    const regulator = createRegulator({ name: 'out', clock, rate: 50 });
    dashboard.track(breaker);
    dashboard.track(regulator);
    clock.advance(1000);
    await fail(breaker);
    clock.advance(1000);
    const s = dashboard.state();
    const chart = s.groups.find((g) => g.name === 'db')!.charts[0]!;
    assert.equal(chart.format, 'state');
    assert.deepEqual(chart.states, ['closed', 'half-open', 'open', 'isolated']);
    assert.deepEqual(line(s, 'db', 'Breaker state', 'state'), [0, 2]);
    assert.deepEqual(line(s, 'out', 'Regulator rate', 'rate'), [50, 50]);
    await dashboard.close();
  });

  it('charts replicas desired and actual of an autoscaler, and feeds its decision summaries', async () => {
    const clock = new VirtualClock();
    const fleet = {
      name: 'fleet',
      desired: 2,
      capacity: (): Capacity => ({ desired: fleet.desired, ready: fleet.desired }),
      scale: (n: number) => {
        fleet.desired = n;
      },
    };
    const autoscaler = createAutoscaler({
      name: 'workers',
      clock,
      actuator: fleet,
      max: 10,
      collectors: [{ name: 'queue', collect: () => ({ load: 4 }) }],
      policies: [
        {
          name: 'want',
          propose: (input: PolicyInput) => {
            const s = input.signals.get('load');
            return s && { replicas: s.value, rule: 'want:load', reason: `load ${s.value}` };
          },
        },
      ],
    });
    const dashboard = createDashboard({ clock });
    dashboard.track(autoscaler);
    clock.advance(1000);
    await autoscaler.tick();
    clock.advance(1000);
    const s = dashboard.state();
    assert.deepEqual(line(s, 'workers', 'Replicas', 'desired'), [null, 4]);
    assert.deepEqual(line(s, 'workers', 'Replicas', 'actual'), [null, 2]);
    assert.equal(s.feed.length, 1);
    assert.equal(s.feed[0]!.kind, 'autoscaler');
    assert.equal(s.feed[0]!.name, 'workers');
    assert.equal(s.feed[0]!.event, 'decision');
    assert.match(s.feed[0]!.text, /^#1 scale 2→4: want:load wants 4 \(load 4\)/);
    await dashboard.close();
  });

  it('charts the pressure score with each signal’s contribution, and feeds level changes', async () => {
    const clock = new VirtualClock();
    const meter = new PressureMeter({ name: 'api', halfLife: 1 });
    const dashboard = createDashboard({ clock });
    dashboard.track(meter);
    meter.update({ queueDepth: 95, queueCapacity: 100 }, 0);
    clock.advance(1000);
    const s = dashboard.state();
    const score = line(s, 'api', 'Pressure', 'score')[0]!;
    assert.ok(score > 0.5, `score ${score}`);
    const labels = s.groups[0]!.charts[0]!.lines.map((l) => l.label);
    assert.ok(labels.includes('queue'), labels.join());
    assert.deepEqual(
      s.feed.map((f) => [f.kind, f.level, f.event]),
      [['pressure', 'warn', 'level']],
    );
    await dashboard.close();
  });
});

describe('createDashboard feed', () => {
  it('feeds breaker transitions with their reasons, named as tracked', async () => {
    const clock = new VirtualClock(10);
    const dashboard = createDashboard({ clock });
    const breaker = createBreaker({ name: 'db', clock, consecutiveFailures: 2, openDuration: 1000 });
    dashboard.track(breaker, { name: 'payments' });
    await fail(breaker);
    await fail(breaker);
    assert.deepEqual(dashboard.state().feed, [
      {
        seq: 0,
        at: 10,
        kind: 'breaker',
        name: 'payments',
        level: 'warn',
        event: 'state',
        text: 'closed → open: 2 failures in a row (threshold 2); open for 1 s',
      },
    ]);
    await dashboard.close();
  });

  it('keeps at most `feed` items, the newest', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock, feed: 3 });
    const breaker = createBreaker({ name: 'db', clock, consecutiveFailures: 1, openDuration: 100 });
    dashboard.track(breaker);
    let transitions = 0;
    breaker.on('state', () => transitions++);
    for (let i = 0; i < 4; i++) {
      await fail(breaker);
      clock.advance(100);
    }
    assert.ok(transitions > 3);
    const feed = dashboard.state().feed;
    assert.deepEqual(
      feed.map((f) => f.seq),
      [transitions - 3, transitions - 2, transitions - 1],
    );
    await dashboard.close();
  });

  it('sums up limit changes within changeInterval in one item', async () => {
    const clock = new VirtualClock();
    const limit = new ManualLimit(10);
    const limiter = createLimiter({ name: 'api', clock, limit });
    const dashboard = createDashboard({ clock, changeInterval: 5000 });
    dashboard.track(limiter);
    limit.set(12); // at once: the first change in an interval
    clock.advance(1000);
    limit.set(14);
    clock.advance(1000);
    limit.set(9);
    clock.advance(3000);
    assert.deepEqual(
      dashboard.state().feed.map((f) => [f.at, f.event, f.text]),
      [
        [0, 'limit', 'limit 10 → 12 (manual)'],
        [5000, 'limit', 'limit 12 → 9 over 2 changes (last: manual)'],
      ],
    );
    await dashboard.close();
  });
});

describe('createDashboard tracking', () => {
  it('removes a component’s lines when its tracking stops, and lets the name be tracked again', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock });
    const first = createLimiter({ name: 'api', clock, limit: new ManualLimit(1) });
    const tracking = dashboard.track(first);
    assert.throws(() => dashboard.track(createLimiter({ name: 'api', clock })), isConfigError);
    clock.advance(1000);
    tracking.stop();
    tracking.stop();
    assert.deepEqual(dashboard.state().groups, []);
    dashboard.track(createLimiter({ name: 'api', clock, limit: new ManualLimit(7) }));
    clock.advance(1000);
    assert.deepEqual(line(dashboard.state(), 'api', 'Limit', 'limit'), [null, 7]);
    await dashboard.close();
  });

  it('stops feeding a component’s decisions when its tracking stops', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock });
    const breaker = createBreaker({ name: 'db', clock, consecutiveFailures: 1 });
    dashboard.track(breaker).stop();
    await fail(breaker);
    assert.deepEqual(dashboard.state().feed, []);
    await dashboard.close();
  });

  it('throws a ConfigError for what is not a component, and for invalid options', () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock });
    assert.throws(() => dashboard.track({} as never), isConfigError);
    assert.throws(() => dashboard.track(createLimiter({ clock }), { name: '' }), isConfigError);
    for (const options of [
      { sampleEvery: 0 },
      { history: 1 },
      { history: 2.5 },
      { feed: 0 },
      { changeInterval: -1 },
      { maxClients: 0 },
      { heartbeat: 0 },
      { title: 3 },
    ]) {
      assert.throws(
        () => createDashboard({ clock, ...(options as object) }),
        isConfigError,
        JSON.stringify(options),
      );
    }
  });

  it('stops sampling on close, and refuses to track or listen afterwards', async () => {
    const clock = new VirtualClock();
    const dashboard = createDashboard({ clock });
    dashboard.track(createBreaker({ name: 'db', clock }));
    await dashboard.close();
    await dashboard.close();
    assert.equal(clock.pending, 0);
    assert.throws(() => dashboard.track(createBreaker({ clock })), isDashboardClosedError);
    await assert.rejects(dashboard.listen(), isDashboardClosedError);
  });
});
