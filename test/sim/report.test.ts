import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { escapeHtml, jsonReport, renderHtml, renderTable, sparkline } from '../../src/sim/report/index.ts';
import type { SimReport } from '../../src/sim/report/report.ts';
import { resample } from '../../src/sim/report/sparkline.ts';
import { lineChart, niceStep } from '../../src/sim/report/svg.ts';
import type { Scenario } from '../../src/sim/run.ts';
import { comparePolicies } from '../../src/sim/scenarios/index.ts';

const scenario: Scenario = {
  name: 'tiny',
  seed: 7,
  duration: 4_000,
  bucket: 250,
  workload: { type: 'poisson', rate: 400, timeout: 500, priority: { critical: 1, sheddable: 1 } },
  downstream: { service: { type: 'lognormal', median: 20, p99: 120 }, concurrency: 5 },
  slo: { latency: 100 },
};

const policies = [
  { name: 'none', policy: { type: 'none' } },
  { name: 'static', policy: { type: 'static', limit: 5 } },
  { name: 'adaptive', policy: { type: 'limiter', limit: { algorithm: 'gradient2' } } },
];

let report: SimReport;

before(async () => {
  const runs = await comparePolicies(scenario, policies);
  report = { title: 'tiny — a small overload', description: 'Twice the capacity.', scenario, runs };
});

describe('report: sparklines', () => {
  it('draws one block per value, scaled from min to max', () => {
    assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7], { width: 20 }), '▁▂▃▄▅▆▇█');
    assert.equal(sparkline([0, 7], { width: 20, max: 14 }), '▁▅');
  });

  it('leaves a space where there is no value, and a flat line for a constant series', () => {
    assert.equal(sparkline([1, null, 1], { width: 10 }), '█ █');
    assert.equal(sparkline([1, 1], { width: 10, min: 1 }), '▁▁');
    assert.equal(sparkline([], { width: 10 }), '');
  });

  it('averages a long series down to the width', () => {
    assert.deepEqual(resample([1, 3, 5, 7, null, null], 3), [2, 6, null]);
    assert.equal(sparkline(new Array(500).fill(3), { width: 40 }).length, 40);
  });
});

describe('report: terminal table', () => {
  it('shows the policies side by side with throughput, latency, shedding and sparklines', () => {
    const text = renderTable(report);
    const header = text.split('\n').find((l) => l.includes('none') && l.includes('adaptive'));
    assert.ok(header !== undefined, 'a header row names every policy');
    assert.ok(
      header.indexOf('none') < header.indexOf('static') &&
        header.indexOf('static') < header.indexOf('adaptive'),
    );
    for (const label of [
      'Goodput',
      'Goodput within SLO',
      'Latency p50',
      'Latency p99',
      'Latency max',
      'Shed',
    ]) {
      assert.match(text, new RegExp(`^${label} `, 'm'));
    }
    assert.match(text, /^ {2}priority critical /m, 'shed by priority');
    assert.match(text, /^ {2}limit /m, 'shed by reason');
    assert.match(
      text,
      /^limit \(max [\d.]+\)\n {2}none +—\n {2}static +[▁-█]+/mu,
      'a sparkline of the limit',
    );
    assert.match(text, /^queue \(max [\d.,]+\)$/m);
    assert.match(text, /seed 7 · 4 s simulated · SLO 99% within 100 ms/);
  });

  it('fits in 100 columns, splitting many policies into several tables', () => {
    const many: SimReport = {
      ...report,
      runs: [...report.runs, ...report.runs, ...report.runs].map((r, i) => ({
        ...r,
        name: `${r.name}-${i}`,
      })),
    };
    for (const r of [report, many]) {
      for (const line of renderTable(r, { width: 100 }).split('\n')) {
        assert.ok([...line].length <= 100, `too wide (${[...line].length}): ${line}`);
      }
    }
    const headers = renderTable(many)
      .split('\n')
      .filter((l) => /^ {20,}\S/.test(l));
    assert.equal(headers.length, 2, 'nine policies make two tables');
  });
});

describe('report: JSON summary', () => {
  it('holds the scenario and, per policy, its settings and summary, as plain JSON data', () => {
    const data = jsonReport(report);
    assert.equal(data.scenario.title, report.title);
    assert.equal(data.scenario.seed, 7);
    assert.deepEqual(
      data.runs.map((r) => r.name),
      ['none', 'static', 'adaptive'],
    );
    assert.deepEqual(data.runs[1]!.policy, { type: 'static', limit: 5 });
    assert.equal(data.runs[2]!.summary.offered, report.runs[2]!.result.summary.offered);
    assert.equal(data.runs[0]!.series, undefined, 'series only when asked');
    assert.deepEqual(JSON.parse(JSON.stringify(data)), data);
    assert.equal(jsonReport(report, { series: true }).runs[0]!.series?.time.length, 16);
  });
});

describe('report: HTML', () => {
  it('is one self-contained file with SVG charts and no external resources', () => {
    const html = renderHtml(report);
    assert.match(html, /^<!doctype html>/);
    assert.ok((html.match(/<svg /g) ?? []).length >= 7, 'a chart per measure');
    for (const title of [
      'Offered load',
      'Goodput',
      'Latency',
      'Concurrency limit',
      'In flight',
      'Queue depth',
    ]) {
      assert.ok(html.includes(`aria-label="${title}"`), `missing chart ${title}`);
    }
    assert.doesNotMatch(html, /https?:\/\//, 'no URL at all, so nothing is fetched');
    assert.doesNotMatch(html, /\s(src|href)=/, 'no linked resources');
    assert.doesNotMatch(html, /@import|url\(/);
  });

  it('escapes every text that comes from the scenario', () => {
    const evil = '</script><script>alert(1)</script>';
    const html = renderHtml({
      ...report,
      title: `<img onerror=x> & "q"`,
      description: evil,
      runs: report.runs.map((r) => ({ ...r, name: evil })),
    });
    assert.ok(!html.includes('<img onerror'));
    assert.ok(html.includes('&lt;img onerror=x&gt; &amp; &quot;q&quot;'));
    assert.equal(html.split('<script').length - 1, 2, 'only the report’s own two scripts');
    assert.equal(html.split('</script>').length - 1, 2);
  });

  it('draws lines with gaps where a series has no value, on round axes', () => {
    const svg = lineChart({
      title: 'T',
      unit: 'u',
      x: [0.5, 1.5, 2.5, 3.5],
      xMax: 4,
      lines: [{ label: 'a', color: '#000', values: [1, null, 3, 4] }],
    });
    const d = /<path class="line" d="([^"]+)"/.exec(svg)?.[1] ?? '';
    assert.equal(d.match(/M/g)?.length, 2, 'a new subpath after the gap');
    assert.match(d, /h0\.1/, 'a lone point is drawn as a dot');
    assert.equal(niceStep(0.7), 1);
    assert.equal(niceStep(130), 200);
    assert.equal(niceStep(3.2), 5);
    assert.equal(escapeHtml(`<a href='x'>&`), '&lt;a href=&#39;x&#39;&gt;&amp;');
  });
});
