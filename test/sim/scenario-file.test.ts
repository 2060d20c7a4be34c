import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  isScenarioFileError,
  loadScenarioFile,
  parseScenarioFile,
  type ScenarioFileError,
} from '../../src/sim/scenario-file.ts';

const valid = `# a small overload
name: small
duration: 2000
workload: { type: poisson, rate: 300, timeout: 1000 }
downstream:
  service: { type: lognormal, median: 20, p99: 120 }
  concurrency: 4
policy: { type: limiter, limit: { algorithm: gradient2 } }
slo: { latency: 250 }
`;

/** The ScenarioFileError that parsing `text` throws. */
function failure(text: string, file = 'test.yaml'): ScenarioFileError {
  try {
    parseScenarioFile(text, file);
  } catch (error) {
    assert.ok(isScenarioFileError(error), `expected a ScenarioFileError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the file to be rejected');
}

describe('scenario files: valid files', () => {
  it('reads a scenario with its nested options as plain data', () => {
    const { scenario, compare, file } = parseScenarioFile(valid, 'small.yaml');
    assert.equal(file, 'small.yaml');
    assert.equal(scenario.duration, 2000);
    assert.deepEqual(scenario.workload, { type: 'poisson', rate: 300, timeout: 1000 });
    assert.deepEqual(scenario.downstream.service, { type: 'lognormal', median: 20, p99: 120 });
    assert.equal(compare, undefined);
  });

  it('reads JSON too, since YAML is a superset of it', () => {
    const json = JSON.stringify({
      duration: 1000,
      workload: { type: 'constant', rate: 10 },
      downstream: { service: 5 },
    });
    assert.equal(parseScenarioFile(json, 'x.json').scenario.duration, 1000);
  });

  it('resolves a compare list of presets, named policies and bare policies, in order', () => {
    const { scenario, compare } = parseScenarioFile(
      `${valid}compare:
  - none
  - static
  - static:7
  - { name: tight, policy: { type: static, limit: 2 } }
  - { type: limiter, limit: { algorithm: vegas } }
  - adaptive
`,
    );
    assert.equal((scenario as unknown as Record<string, unknown>)['compare'], undefined);
    assert.deepEqual(
      compare?.map((p) => p.name),
      ['none', 'static', 'static:7', 'tight', 'limiter', 'adaptive'],
    );
    assert.deepEqual(compare?.[1]?.policy, { type: 'static', limit: 4 }, 'static is sized to the service');
    assert.deepEqual(compare?.[2]?.policy, { type: 'static', limit: 7 });
    assert.deepEqual(compare?.[4]?.policy, { type: 'limiter', limit: { algorithm: 'vegas' } });
  });
});

describe('scenario files: errors name the file, the path and the line', () => {
  it('reports a value of the wrong type at its line and column', () => {
    const e = failure(valid.replace('rate: 300', 'rate: fast'));
    assert.equal(e.file, 'test.yaml');
    assert.equal(e.path, 'workload.rate');
    assert.equal(e.line, 4);
    assert.equal(e.column, 34);
    assert.match(e.message, /^sluice: test\.yaml:4:34: option "workload\.rate" must be .*got "fast"$/);
    assert.match(e.excerpt ?? '', /4 \| workload: .*rate: fast.*\n +\| +\^\^\^\^$/);
  });

  it('reports an unknown option at its key, lists the known ones and suggests the closest', () => {
    const e = failure(valid.replace('duration: 2000', 'durration: 2000'));
    assert.equal(e.path, 'durration');
    assert.equal(e.line, 3);
    assert.equal(e.column, 1);
    assert.match(
      e.message,
      /unknown option "durration" \(known: .*duration.*compare\); did you mean "duration"\?/,
    );
  });

  it('follows list indexes in block sequences to the item that is wrong', () => {
    const e = failure(`duration: 1000
workload:
  - type: poisson
    rate: 10
  - type: poisson
    rate: 10
    timout: 3
downstream: { service: 5 }
`);
    assert.equal(e.path, 'workload[1].timout');
    assert.equal(e.line, 7);
    assert.match(e.message, /did you mean "timeout"\?/);
  });

  it('finds an unknown option of a component deep inside a policy', () => {
    const e = failure(valid.replace('algorithm: gradient2', 'algorithm: gradient2, initail: 3'));
    assert.equal(e.path, 'policy.limit.initail');
    assert.equal(e.line, 8);
    assert.match(e.message, /unknown option "policy\.limit\.initail"/);
  });

  it('points a missing option at the object that should hold it', () => {
    const e = failure(valid.replace('  service: { type: lognormal, median: 20, p99: 120 }\n', ''));
    assert.equal(e.path, 'downstream.service');
    assert.equal(e.line, 6, 'the line of the downstream mapping');
  });

  it('reports YAML syntax errors with their line', () => {
    const e = failure(`duration: 1000\nworkload: { type: poisson, rate: 10\ndownstream: { service: 5 }\n`);
    assert.equal(e.path, null);
    assert.equal(e.line, 3);
    assert.match(e.message, /^sluice: test\.yaml:3:\d+: invalid YAML: /);
  });

  it('rejects a key given twice', () => {
    const e = failure(`duration: 1000\nduration: 2000\n`);
    assert.equal(e.line, 2);
    assert.match(e.message, /invalid YAML: Map keys must be unique/);
  });

  it('reports an invalid policy in the compare list under its compare path', () => {
    const e = failure(
      `${valid}compare:\n  - none\n  - { name: tight, policy: { type: static, limit: -1 } }\n`,
    );
    assert.equal(e.path, 'compare[1].policy.limit');
    assert.equal(e.line, 12);
    assert.match(e.message, /option "compare\[1\]\.policy\.limit" must be a finite number > 0, got -1/);
  });

  it('reports an unknown policy name in the compare list, with the names it knows', () => {
    const e = failure(`${valid}compare: [none, fancy]\n`);
    assert.equal(e.path, 'compare[1]');
    assert.equal(e.line, 10);
    assert.match(e.message, /got "fancy"/);
    assert.match(e.message, /none, static, adaptive/);
  });

  it('rejects an empty file and a file that is not a mapping', () => {
    assert.match(failure('').message, /test\.yaml: the file is empty/);
    const list = failure('- 1\n- 2\n');
    assert.equal(list.line, 1);
    assert.match(list.message, /must be a mapping of scenario options/);
  });
});

describe('scenario files: loading from disk', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-scenario-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and names it as given in errors', async () => {
    const path = join(dir, 'ok.yaml');
    await writeFile(path, valid);
    assert.equal((await loadScenarioFile(path)).scenario.name, 'small');
    await writeFile(path, valid.replace('concurrency: 4', 'concurrency: many'));
    await assert.rejects(
      loadScenarioFile(path, { name: 'ok.yaml' }),
      /^ScenarioFileError: sluice: ok\.yaml:7:16: /,
    );
  });

  it('says so when the file does not exist', async () => {
    await assert.rejects(
      loadScenarioFile(join(dir, 'missing.yaml'), { name: 'missing.yaml' }),
      (e: unknown) => {
        assert.ok(isScenarioFileError(e));
        assert.equal(e.line, null);
        assert.match(e.message, /missing\.yaml: cannot read the scenario file \(no such file\)/);
        return true;
      },
    );
  });
});
