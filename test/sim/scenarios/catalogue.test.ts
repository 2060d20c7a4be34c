import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Scenario, Simulation, simulate } from '../../../src/sim/run.ts';
import {
  builtinScenario,
  catalogue,
  comparePolicies,
  presetPolicy,
  resolvePolicies,
  uniqueNames,
} from '../../../src/sim/scenarios/index.ts';

/** A built-in scenario cut to `duration` ms (its warmup too), to keep the suite fast. */
function short(scenario: Scenario, duration: number): Scenario {
  return { ...scenario, duration, warmup: Math.min(scenario.warmup ?? 0, duration / 2) };
}

describe('built-in scenarios', () => {
  it('covers the situations of the issue, each under a unique name', () => {
    const names = catalogue.map((e) => e.name);
    for (const name of [
      'steady-overload',
      'capacity-drop',
      'flash-crowd',
      'downstream-outage',
      'retry-storm',
      'diurnal',
    ]) {
      assert.ok(names.includes(name), `missing ${name}`);
    }
    assert.equal(new Set(names).size, names.length);
    assert.equal(builtinScenario('flash-crowd')?.name, 'flash-crowd');
    assert.equal(builtinScenario('nope'), undefined);
  });

  for (const entry of catalogue) {
    describe(entry.name, () => {
      it('has a title, a description and its own name', () => {
        assert.ok(entry.title.length > 0 && entry.description.length > 40);
        assert.equal(entry.scenario.name, entry.name);
      });

      it('compares unprotected, static and adaptive policies, each valid for the scenario', () => {
        const types = entry.compare.map((p) => (p.policy as { type: string }).type);
        assert.ok(types.includes('none') && types.includes('static') && types.includes('limiter'));
        for (const p of entry.compare) new Simulation({ ...entry.scenario, policy: p.policy });
      });

      it('runs every compared policy, the same seed giving the same workload', async () => {
        const runs = await comparePolicies(short(entry.scenario, 3_000), entry.compare);
        assert.deepEqual(
          runs.map((r) => r.name),
          entry.compare.map((p) => p.name),
        );
        for (const r of runs) assert.ok(r.result.summary.offered > 0, `${r.name} saw no load`);
        // Retries depend on what the policy did; first attempts do not.
        const firsts = runs.map((r) => r.result.summary.offered - r.result.summary.retries);
        assert.ok(
          firsts.every((n) => n === firsts[0]),
          `first attempts differ: ${firsts.join(', ')}`,
        );
      });

      it('is deterministic: two runs give the same summary and series', async () => {
        const scenario = short(entry.scenario, 4_000);
        const [a, b] = [await simulate(scenario), await simulate(scenario)];
        assert.deepEqual(a.summary, b.summary);
        assert.deepEqual(a.series, b.series);
        assert.equal(a.events, b.events);
      });
    });
  }
});

describe('policy presets', () => {
  const scenario = catalogue[0]!.scenario;

  it('sizes "static" to the healthy service and takes "static:N" as a limit', () => {
    assert.deepEqual(presetPolicy('static', scenario)?.policy, { type: 'static', limit: 20 });
    const replicated = builtinScenario('capacity-drop')!.scenario;
    assert.deepEqual(presetPolicy('static', replicated)?.policy, { type: 'static', limit: 20 }, '4 x 5');
    assert.deepEqual(presetPolicy('static:35', scenario)?.policy, { type: 'static', limit: 35 });
    assert.equal(presetPolicy('static:0', scenario), undefined);
    assert.equal(presetPolicy('bogus', scenario), undefined);
  });

  it('resolves names against a scenario list first, then the presets, and rejects the unknown', () => {
    const named = [{ name: 'static', policy: { type: 'static', limit: 3 } }];
    const [own, preset] = resolvePolicies(['static', 'adaptive'], scenario, named);
    assert.deepEqual(own?.policy, { type: 'static', limit: 3 });
    assert.equal(preset?.name, 'adaptive');
    assert.throws(() => resolvePolicies(['nope'], scenario), /option "policies" must be a policy name/);
  });

  it('tells repeated names apart', () => {
    const p = { name: 'none', policy: { type: 'none' } };
    assert.deepEqual(
      uniqueNames([p, p, p]).map((x) => x.name),
      ['none', 'none#2', 'none#3'],
    );
  });
});
