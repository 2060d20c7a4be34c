import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  isCumulative,
  isPlainSample,
  matches,
  PrometheusSyntaxError,
  parseExposition,
  parseSelector,
  type Sample,
} from '../../../src/scale/collectors/prometheus-text.ts';

describe('parseExposition', () => {
  it('reads samples with labels, escapes, special values, timestamps and types', () => {
    const { samples, types } = parseExposition(
      [
        '# HELP http_requests_total Requests served.',
        '# TYPE http_requests_total counter',
        'http_requests_total{method="GET",code="200"} 1027 1395066363000',
        'http_requests_total{method="POST",code="500",} 3',
        '# a free comment',
        '',
        'msg{text="say \\"hi\\"\\n\\\\ok"} +Inf',
        'temp -Inf',
        'ratio NaN',
        '  spaced\t{ a = "1" }  2.5e3',
      ].join('\r\n'),
    );
    assert.equal(types.get('http_requests_total'), 'counter');
    assert.deepEqual(samples[0], {
      name: 'http_requests_total',
      labels: { method: 'GET', code: '200' },
      value: 1027,
    });
    assert.deepEqual(samples[1]!.labels, { method: 'POST', code: '500' });
    assert.equal(samples[2]!.labels['text'], 'say "hi"\n\\ok');
    assert.equal(samples[2]!.value, Number.POSITIVE_INFINITY);
    assert.equal(samples[3]!.value, Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(samples[4]!.value));
    assert.deepEqual(samples[5], { name: 'spaced', labels: { a: '1' }, value: 2500 });
  });

  it('reads OpenMetrics text: exemplars ignored, stops at # EOF', () => {
    const { samples, types } = parseExposition(
      [
        '# TYPE jobs counter',
        'jobs_total{queue="a"} 5 # {trace_id="abc"} 1 1700000000.0',
        'jobs_created{queue="a"} 1700000000.0',
        '# EOF',
        'after 1',
      ].join('\n'),
    );
    assert.equal(types.get('jobs'), 'counter');
    assert.deepEqual(
      samples.map((s) => [s.name, s.value]),
      [
        ['jobs_total', 5],
        ['jobs_created', 1700000000],
      ],
    );
  });

  it('reads quoted UTF-8 metric and label names', () => {
    const { samples } = parseExposition('{"my.metric", "zone.id"="eu-1", code="200"} 7\n');
    assert.deepEqual(samples[0], { name: 'my.metric', labels: { 'zone.id': 'eu-1', code: '200' }, value: 7 });
  });

  it('names the line of a malformed sample', () => {
    for (const bad of ['ok 1\nbroken{a="1" 2', 'ok 1\nno_value', 'ok 1\nx{a=1} 2', 'ok 1\nx abc']) {
      assert.throws(
        () => parseExposition(bad),
        (e: unknown) => e instanceof PrometheusSyntaxError && /^line 2: /.test(e.message),
        bad,
      );
    }
  });

  it('round-trips any samples written in the format', () => {
    const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/);
    const sample = fc.record({
      name: fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,12}$/),
      labels: fc.dictionary(labelName, fc.string({ maxLength: 12 }), { maxKeys: 4 }),
      value: fc.oneof(fc.double({ noNaN: true }), fc.integer()),
    });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 8 }), (written) => {
        const text = written
          .map((s) => {
            const labels = Object.entries(s.labels)
              .map(
                ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
              )
              .join(',');
            const value = Number.isFinite(s.value) ? String(s.value) : s.value > 0 ? '+Inf' : '-Inf';
            return `${s.name}${labels ? `{${labels}}` : ''} ${value}`;
          })
          .join('\n');
        const read = parseExposition(text).samples;
        assert.equal(read.length, written.length);
        read.forEach((s, i) => {
          const w = written[i]!;
          assert.equal(s.name, w.name);
          assert.deepEqual({ ...s.labels }, { ...w.labels });
          assert.ok(Object.is(s.value, w.value) || (s.value === 0 && w.value === 0));
        });
      }),
    );
  });
});

describe('isCumulative', () => {
  const types = parseExposition(
    [
      '# TYPE req_total counter',
      '# TYPE jobs counter',
      '# TYPE latency histogram',
      '# TYPE rpc summary',
      '# TYPE temp gauge',
    ].join('\n'),
  ).types;

  it('rates counters and the count, sum and buckets of histograms and summaries', () => {
    for (const name of [
      'req_total',
      'jobs_total',
      'latency_bucket',
      'latency_count',
      'latency_sum',
      'rpc_count',
      'rpc_sum',
    ]) {
      assert.equal(isCumulative(name, types), true, name);
    }
  });

  it('reads gauges, summary quantiles and undeclared samples as they are', () => {
    for (const name of ['temp', 'rpc', 'unknown_total', 'jobs_created', 'rpc_bucket']) {
      assert.equal(isCumulative(name, types), false, name);
    }
  });

  it('leaves buckets, quantiles and _created series out of the plain samples', () => {
    const s = (name: string, labels: Record<string, string> = {}): Sample => ({ name, labels, value: 1 });
    assert.equal(isPlainSample(s('latency_bucket', { le: '0.1' }), types), false);
    assert.equal(isPlainSample(s('rpc', { quantile: '0.99' }), types), false);
    assert.equal(isPlainSample(s('jobs_created'), types), false);
    assert.equal(isPlainSample(s('latency_count'), types), true);
    assert.equal(isPlainSample(s('temp'), types), true);
  });
});

describe('parseSelector', () => {
  const sample = (name: string, labels: Record<string, string>): Sample => ({ name, labels, value: 1 });

  it('matches by name and by =, !=, =~ and !~ matchers, regexes anchored', () => {
    const sel = parseSelector(`http_requests_total{code=~"5..", method!="GET", route!~'/health|/ready'}`);
    assert.ok(matches(sel, sample('http_requests_total', { code: '503', method: 'POST', route: '/a' })));
    assert.ok(
      !matches(sel, sample('http_requests_total', { code: '5030', method: 'POST', route: '/a' })),
      'anchored',
    );
    assert.ok(!matches(sel, sample('http_requests_total', { code: '500', method: 'GET', route: '/a' })));
    assert.ok(!matches(sel, sample('http_requests_total', { code: '500', method: 'PUT', route: '/health' })));
    assert.ok(!matches(sel, sample('other', { code: '500', method: 'PUT', route: '/a' })));
  });

  it('reads an absent label as empty, as PromQL does', () => {
    assert.ok(matches(parseSelector('x{zone=""}'), sample('x', {})));
    assert.ok(!matches(parseSelector('x{zone!=""}'), sample('x', {})));
  });

  it('takes the name from __name__ or from a quoted name in the braces', () => {
    assert.ok(matches(parseSelector('{__name__=~"queue_.*_depth"}'), sample('queue_a_depth', {})));
    assert.ok(matches(parseSelector('{"my.metric", zone="eu"}'), sample('my.metric', { zone: 'eu' })));
  });

  it('refuses malformed selectors and selectors that would match everything', () => {
    for (const bad of ['', 'x{', 'x{a}', 'x{a=b}', 'x{a=~"("}', '{a=""}', 'x y', '{a=~".*"}']) {
      assert.throws(() => parseSelector(bad), PrometheusSyntaxError, bad);
    }
  });
});
