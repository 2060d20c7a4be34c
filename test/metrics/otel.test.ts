import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { isConfigError, isRejectedError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import {
  breakerMetrics,
  limiterMetrics,
  type MetricDefinition,
  otelMetrics,
  otelName,
} from '../../src/metrics/index.ts';
import { createBreaker } from '../../src/policies/breaker.ts';

/** A meter whose metrics are read on demand through the SDK's in-memory exporter. */
function setup() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval never elapses in a test: `collect()` exports on demand.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('sluice-test');
  return {
    meter,
    async collect(): Promise<Map<string, MetricData>> {
      exporter.reset();
      await reader.forceFlush();
      const byName = new Map<string, MetricData>();
      for (const rm of exporter.getMetrics())
        for (const sm of rm.scopeMetrics) for (const m of sm.metrics) byName.set(m.descriptor.name, m);
      return byName;
    },
    shutdown: () => provider.shutdown(),
  };
}

function metric(all: Map<string, MetricData>, definition: MetricDefinition): MetricData {
  const m = all.get(otelName(definition));
  assert.ok(m, `metric ${otelName(definition)} exported`);
  return m;
}

function point(m: MetricData, attributes: Record<string, string>): unknown {
  const found = m.dataPoints.filter((p) =>
    Object.entries(attributes).every(([k, v]) => p.attributes[k] === v),
  );
  assert.equal(found.length, 1, `one point of ${m.descriptor.name} with ${JSON.stringify(attributes)}`);
  return found[0]!.value;
}

describe('metrics: the OpenTelemetry bridge', () => {
  const t = setup();
  after(() => t.shutdown());
  const clock = new VirtualClock();
  const limiter = createLimiter({
    name: 'api',
    clock,
    limit: 1,
    queue: { size: 1, timeout: 100, target: false },
  });
  const breaker = createBreaker({ name: 'db', clock, consecutiveFailures: 1 });
  const metrics = otelMetrics({ meter: t.meter });
  const tracking = metrics.trackLimiter(limiter);
  metrics.trackBreaker(breaker);

  it('exports gauges read from the snapshots at collection, named sluice.<component>.<name> with units', async () => {
    const permit = limiter.tryAcquire()!;
    const waiter = limiter.acquire();
    clock.advance(40);
    const all = await t.collect();
    const limit = metric(all, limiterMetrics.limit);
    assert.equal(limit.dataPointType, DataPointType.GAUGE);
    assert.equal(limit.descriptor.unit, '{request}');
    assert.equal(limit.descriptor.description, limiterMetrics.limit.help);
    assert.equal(point(limit, { name: 'api' }), 1);
    assert.equal(point(metric(all, limiterMetrics.inflight), { name: 'api' }), 1);
    assert.equal(point(metric(all, limiterMetrics.queueDepth), { name: 'api' }), 1);
    const age = metric(all, limiterMetrics.queueAge);
    assert.equal(age.descriptor.name, 'sluice.limiter.queue.oldest_age');
    assert.equal(age.descriptor.unit, 's');
    assert.equal(point(age, { name: 'api' }), 0.04);
    permit.success();
    (await waiter).success();
  });

  it('exports event-fed counters as monotonic sums, with the same labels as attributes', async () => {
    assert.equal(limiter.tryAcquire({ priority: 'critical' })?.success(), undefined);
    limiter.tryAcquire()!; // holds the only permit
    assert.equal(limiter.tryAcquire({ priority: 'sheddable' }), undefined);
    const all = await t.collect();
    const rejections = metric(all, limiterMetrics.rejections);
    assert.equal(rejections.dataPointType, DataPointType.SUM);
    assert.ok(rejections.dataPointType === DataPointType.SUM && rejections.isMonotonic);
    assert.equal(point(rejections, { name: 'api', reason: 'limit', priority: 'sheddable' }), 1);
  });

  it('exports the waiting time as a histogram with the definition’s bucket bounds, in seconds', async () => {
    const waiter = limiter.acquire();
    waiter.catch(() => {});
    clock.advance(100);
    await assert.rejects(waiter, isRejectedError);
    const all = await t.collect();
    const wait = metric(all, limiterMetrics.wait);
    assert.equal(wait.dataPointType, DataPointType.HISTOGRAM);
    assert.equal(wait.descriptor.unit, 's');
    const admitted = point(wait, { name: 'api', outcome: 'admitted' }) as { count: number; sum: number };
    assert.equal(admitted.count, 1);
    assert.equal(admitted.sum, 0.04);
    const rejected = point(wait, { name: 'api', outcome: 'rejected' }) as {
      count: number;
      sum: number;
      buckets: { boundaries: number[] };
    };
    assert.equal(rejected.count, 1);
    assert.equal(rejected.sum, 0.1);
    assert.deepEqual(rejected.buckets.boundaries, limiterMetrics.wait.buckets);
  });

  it('exports a breaker state set and its transitions', async () => {
    await assert.rejects(breaker.execute(() => Promise.reject(new Error('down'))));
    const all = await t.collect();
    const state = metric(all, breakerMetrics.state);
    assert.equal(point(state, { name: 'db', state: 'open' }), 1);
    assert.equal(point(state, { name: 'db', state: 'closed' }), 0);
    assert.equal(
      point(metric(all, breakerMetrics.transitions), { name: 'db', from: 'closed', to: 'open' }),
      1,
    );
  });

  // The SDK keeps exporting the last cumulative value of a series no callback reports any more: what a
  // stopped tracking guarantees is that its series no longer change.
  it('stops reading an instance once its tracking stops', async () => {
    const before = point(metric(await t.collect(), limiterMetrics.inflight), { name: 'api' });
    assert.equal(before, 1);
    tracking.stop();
    limiter.tryAcquire({ priority: 'low' }); // would count a rejection
    const all = await t.collect();
    assert.equal(point(metric(all, limiterMetrics.inflight), { name: 'api' }), before);
    assert.equal(
      point(metric(all, limiterMetrics.rejections), { name: 'api', reason: 'limit', priority: 'sheddable' }),
      1,
    );
    assert.equal(
      metric(all, limiterMetrics.rejections).dataPoints.filter((p) => p.attributes.priority === 'low').length,
      0,
    );
  });

  it('removes its callbacks on close()', async () => {
    metrics.close();
    breaker.reset(); // closes it: no longer read
    const all = await t.collect();
    assert.equal(point(metric(all, breakerMetrics.state), { name: 'db', state: 'open' }), 1);
  });

  it('rejects a missing meter and a bad prefix with a ConfigError', () => {
    assert.throws(
      () => otelMetrics({} as never),
      (e) => isConfigError(e) && e.option === 'meter',
    );
    assert.throws(
      () => otelMetrics({ meter: t.meter, prefix: '9.' }),
      (e) => isConfigError(e) && e.option === 'prefix',
    );
  });

  it('takes a prefix', async () => {
    const other = setup();
    const m = otelMetrics({ meter: other.meter, prefix: 'acme.' });
    m.trackLimiter(createLimiter({ name: 'x', clock, limit: 4 }));
    const all = await other.collect();
    assert.ok(all.has('acme.limiter.limit'));
    m.close();
    await other.shutdown();
  });
});
