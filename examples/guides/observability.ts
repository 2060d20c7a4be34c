// docs/guides/observability.md, runnable: sh scripts/use-node.sh node examples/guides/observability.ts

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { metrics as otel } from '@opentelemetry/api';
import { Registry } from 'prom-client';
import { createDashboard } from '../../src/dashboard/index.ts';
import { createBreaker, createLimiter, createRegulator, isRejectedError } from '../../src/index.ts';
import { createMetrics, type DecisionLogger, logDecisions, otelMetrics } from '../../src/metrics/index.ts';

const limiter = createLimiter({ name: 'api', limit: 2, queue: { size: 1, timeout: 50 } });
const breaker = createBreaker({ name: 'payments', consecutiveFailures: 3 });
const regulator = createRegulator({ name: 'partner', rate: 20 });

// --- Prometheus through prom-client (an optional peer). Gauges are read at scrape time.
const prometheus = createMetrics({ registry: new Registry() }); // default: prom-client's global register
prometheus.track(limiter); // labelled name="api"
prometheus.trackBreaker(breaker, { labels: { service: 'checkout' } }); // extra constant labels
prometheus.track(regulator);
// http.createServer(prometheus.handler).listen(9464), or app.get('/metrics', prometheus.handler)

// --- OpenTelemetry: the same definitions as observable instruments on a Meter (no-op without an SDK).
const telemetry = otelMetrics({ meter: otel.getMeter('sluice') });
telemetry.track(limiter);

// --- Structured decision logs, pino-style (pass a pino logger; here a console one).
const logger: DecisionLogger = {
  info: (record, message) => console.log(`  INFO ${message} ${JSON.stringify(record)}`),
  warn: (record, message) => console.log(`  WARN ${message} ${JSON.stringify(record)}`),
};
logDecisions(breaker, logger); // every state change; warn when it opens
logDecisions(limiter, logger, { interval: 10_000 }); // limit changes, at most a line per 10 s

// --- diagnostics_channel: every event, free when nobody listens.
const onReject = (message: unknown) => {
  const e = message as { limiter: string; reason: string };
  console.log(`  channel sluice:limiter:reject -> ${e.limiter} ${e.reason}`);
};
subscribe('sluice:limiter:reject', onReject);

// --- The dashboard: one offline page, live over server-sent events, loopback unless given a token.
const dashboard = createDashboard({ title: 'checkout', sampleEvery: 100 });
dashboard.track(limiter);
dashboard.track(breaker);
const { url } = await dashboard.listen({ port: 0 }); // http://127.0.0.1:<port>/
console.log(`dashboard on ${url}`);

// Some traffic: a burst that overflows the limiter, and a failing dependency that opens the breaker.
await Promise.allSettled(
  Array.from({ length: 5 }, () => limiter.run(() => new Promise((resolve) => setTimeout(resolve, 20)))),
).then((all) =>
  console.log(
    `burst: ${all.filter((r) => r.status === 'rejected' && isRejectedError(r.reason)).length} rejected`,
  ),
);
for (let i = 0; i < 3; i++) {
  await breaker.execute(() => Promise.reject(new Error('503'))).catch(() => undefined);
}
regulator.record('dropped');
unsubscribe('sluice:limiter:reject', onReject);

// What a scrape shows (a selection).
const text = await prometheus.metrics();
for (const line of text.split('\n')) {
  if (/^sluice_(limiter_(limit|rejections_total)|breaker_state|regulator_rate_per_second)/.test(line)) {
    console.log(`  ${line}`);
  }
}

// What the page shows: one group of charts per component, and the feed of decisions.
await new Promise((resolve) => setTimeout(resolve, 250)); // a couple of samples
const state = (await (await fetch(new URL('state', url))).json()) as ReturnType<typeof dashboard.state>;
for (const g of state.groups)
  console.log(`  ${g.kind} "${g.name}": ${g.charts.map((c) => c.title).join('; ')}`);
for (const f of state.feed) console.log(`  feed [${f.level}] ${f.kind} ${f.name}: ${f.text}`);

await dashboard.close();
prometheus.close();
telemetry.close();
