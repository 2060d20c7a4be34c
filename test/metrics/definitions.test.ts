import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type MetricDefinition,
  metricDefinitions,
  otelName,
  prometheusName,
} from '../../src/metrics/index.ts';

const all: MetricDefinition[] = Object.values(metricDefinitions).flatMap((group) =>
  Object.values(group as Record<string, MetricDefinition>),
);

describe('metrics: definitions', () => {
  it('name every Prometheus metric in snake_case, with base units and _total only on counters', () => {
    for (const d of all) {
      const name = prometheusName(d);
      assert.match(name, /^sluice_[a-z][a-z0-9_]*[a-z0-9]$/, name);
      assert.equal(name.endsWith('_total'), d.type === 'counter', name);
      if (d.unit === 's') assert.ok(name.endsWith('_seconds'), name);
      assert.doesNotMatch(name, /_ms(_|$)|milli/, name);
      for (const label of d.labels) assert.match(label, /^[a-z][a-z_]*$/, `${name} label ${label}`);
      assert.ok(!d.labels.includes('name'), `${name}: "name" is the instance label`);
    }
  });

  it('give every metric a unique name in both systems', () => {
    const prom = all.map((d) => prometheusName(d));
    const otel = all.map((d) => otelName(d));
    assert.equal(new Set(prom).size, all.length);
    assert.equal(new Set(otel).size, all.length);
    // OpenTelemetry: a metric name is never also the namespace of another.
    for (const n of otel) assert.ok(!otel.some((o) => o.startsWith(`${n}.`)), n);
  });

  it('name OpenTelemetry instruments sluice.<component>.<name> with a UCUM unit', () => {
    for (const d of all) {
      assert.match(otelName(d), /^sluice\.[a-z]+(\.[a-z][a-z_]*)+$/);
      assert.match(d.unit, /^(s|1|\{[a-z]+\}(\/s)?)$/, `${otelName(d)} unit ${d.unit}`);
    }
  });

  it('derive the Prometheus name from the OpenTelemetry one as its Prometheus exporter would', () => {
    const expected: Record<string, string> = {
      'sluice.limiter.queue.oldest_age': 'sluice_limiter_queue_oldest_age_seconds',
      'sluice.limiter.queue.wait': 'sluice_limiter_queue_wait_seconds',
      'sluice.limiter.rejections': 'sluice_limiter_rejections_total',
      'sluice.regulator.rate': 'sluice_regulator_rate_per_second',
      'sluice.server.event_loop.utilization': 'sluice_server_event_loop_utilization_ratio',
      'sluice.batcher.flush.duration': 'sluice_batcher_flush_duration_seconds',
    };
    for (const d of all) {
      const want = expected[otelName(d)];
      if (want !== undefined) assert.equal(prometheusName(d), want);
    }
    assert.equal(prometheusName(metricDefinitions.limiter.limit, 'app_'), 'app_limiter_limit');
    assert.equal(otelName(metricDefinitions.limiter.limit, 'app.'), 'app.limiter.limit');
  });

  it('cover the series operators need, with their types and labels', () => {
    const byName = new Map(all.map((d) => [prometheusName(d), d]));
    const required: [string, MetricDefinition['type'], string[]][] = [
      ['sluice_limiter_limit', 'gauge', []],
      ['sluice_limiter_inflight', 'gauge', []],
      ['sluice_limiter_queue_depth', 'gauge', []],
      ['sluice_limiter_queue_oldest_age_seconds', 'gauge', []],
      ['sluice_limiter_queue_wait_seconds', 'histogram', ['outcome']],
      ['sluice_limiter_rejections_total', 'counter', ['reason', 'priority']],
      ['sluice_breaker_state', 'gauge', ['state']],
      ['sluice_pressure_score', 'gauge', []],
      ['sluice_regulator_rate_per_second', 'gauge', []],
      ['sluice_batcher_size', 'gauge', []],
      ['sluice_batcher_flush_items', 'histogram', ['outcome']],
      ['sluice_pool_size', 'gauge', []],
      ['sluice_autoscaler_replicas_desired', 'gauge', []],
      ['sluice_autoscaler_replicas_actual', 'gauge', []],
      ['sluice_autoscaler_decisions_total', 'counter', ['rule', 'direction']],
    ];
    for (const [name, type, labels] of required) {
      const d = byName.get(name);
      assert.ok(d, name);
      assert.equal(d.type, type, name);
      assert.deepEqual([...d.labels], labels, name);
    }
  });

  it('write a help sentence for every metric and ascending buckets for every histogram', () => {
    for (const d of all) {
      assert.match(d.help, /^[A-Z0-9'].*\.$/, prometheusName(d));
      if (d.type === 'histogram') {
        assert.ok(d.buckets !== undefined && d.buckets.length > 0);
        for (let i = 1; i < d.buckets.length; i++) assert.ok(d.buckets[i]! > d.buckets[i - 1]!);
      } else assert.equal(d.buckets, undefined);
    }
  });
});
