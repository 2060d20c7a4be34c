import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/cli.ts';
import type { CliIo } from '../../src/cli/io.ts';
import type { Clock } from '../../src/core/clock.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import type { JsonReport } from '../../src/sim/report/json.ts';
import { parseScenarioFile } from '../../src/sim/scenario-file.ts';
import { catalogue } from '../../src/sim/scenarios/index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const main = join(root, 'src/cli/main.ts');

/** Runs `node src/cli/main.ts ...args` with this test's Node; resolves with the exit code and output. */
function node(
  args: readonly string[],
  cwd = root,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI in-process with captured output. */
async function cli(
  args: readonly string[],
  options: { cwd?: string; tty?: boolean; clock?: Clock; signal?: AbortSignal } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: { write: (s: string) => out.push(s), isTTY: false },
    stderr: { write: (s: string) => err.push(s), isTTY: options.tty ?? false, columns: 100 },
    clock: options.clock ?? new VirtualClock(),
    cwd: options.cwd ?? root,
    env: {},
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const code = await runCli(args, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** A clock that moves 150 ms every time it is read, so that a progress bar's delay passes quickly. */
function steppingClock(): Clock {
  let t = 0;
  return {
    now: () => (t += 150),
    setTimer: () => assert.fail('the progress bar sets no timers'),
  };
}

const scenarioYaml = `name: small
description: A small overload.
seed: 3
duration: 3000
workload: { type: poisson, rate: 400, timeout: 500 }
downstream: { service: { type: lognormal, median: 20, p99: 120 }, concurrency: 5 }
policy: { type: limiter, limit: { algorithm: gradient2 } }
slo: { latency: 200 }
compare:
  - none
  - { name: tight, policy: { type: static, limit: 3 } }
`;

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
  await writeFile(join(dir, 'small.yaml'), scenarioYaml);
  await writeFile(
    join(dir, 'bad.yaml'),
    scenarioYaml.replace('concurrency: 5', 'concurrency: 5, conurrency: 4'),
  );
  await writeFile(join(dir, 'broken.yaml'), 'duration: 1000\nworkload: [\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('sluice simulate, as a process', () => {
  it('compares a built-in scenario across policies and writes the JSON summary to stdout', async () => {
    const { code, stdout, stderr } = await node([
      'simulate',
      'steady-overload',
      '--compare',
      '--duration',
      '5s',
      '--json',
      '-',
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '', 'no progress bar when stderr is not a terminal');
    const report = JSON.parse(stdout) as JsonReport;
    assert.equal(report.scenario.name, 'steady-overload');
    assert.equal(report.scenario.duration, 5000);
    assert.deepEqual(
      report.runs.map((r) => r.name),
      ['none', 'static', 'adaptive'],
    );
    const offered = report.runs.map((r) => r.summary.offered);
    assert.ok(offered[0]! > 0 && offered.every((n) => n === offered[0]), 'one workload for all');
    assert.ok(report.runs[2]!.summary.goodput > report.runs[0]!.summary.goodput, 'protection pays');
  });

  it('exits with status 2 and a message on a usage error', async () => {
    const { code, stdout, stderr } = await node(['simulate', 'flash-crowd', '--bogus']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.match(
      stderr,
      /^sluice simulate: unknown option --bogus\nRun 'sluice simulate --help' for usage\.\n$/,
    );
  });
});

describe('sluice simulate: usage', () => {
  it('prints its help with every option', async () => {
    const { code, stdout } = await cli(['simulate', '--help']);
    assert.equal(code, 0);
    for (const option of [
      '--compare',
      '--policies',
      '--seed',
      '--duration',
      '--json',
      '--html',
      '--quiet',
      '--no-progress',
      '--list',
      '--print',
    ]) {
      assert.ok(stdout.includes(option), `help lacks ${option}`);
    }
    assert.equal((await cli(['help', 'simulate'])).stdout, stdout);
  });

  it('lists the built-in scenarios', async () => {
    const { code, stdout } = await cli(['simulate', '--list']);
    assert.equal(code, 0);
    for (const entry of catalogue)
      assert.match(stdout, new RegExp(`^ {2}${entry.name} +${entry.title}`, 'm'));
  });

  for (const [args, message] of [
    [['simulate'], /missing <scenario>/],
    [['simulate', 'diurnal', 'flash-crowd'], /one scenario at a time, got 2/],
    [['simulate', 'flash'], /no built-in scenario "flash" \(did you mean flash-crowd\?\)/],
    [['simulate', 'diurnal', '--duration', 'soon'], /--duration must be a time > 0 .* got "soon"/],
    [['simulate', 'diurnal', '--duration', '0s'], /--duration must be a time > 0/],
    [['simulate', 'diurnal', '--policies', 'none,magic'], /--policies: unknown policy "magic"/],
    [['simulate', 'diurnal', '--html'], /option '--html <value>' argument missing/],
    [['simulate', 'diurnal', '--json', ''], /--json needs a file name, or -/],
    [['launch'], /unknown command "launch"; commands: demo, simulate, proxy, autoscale/],
  ] as const) {
    it(`exits 2 for: sluice ${args.join(' ')}`, async () => {
      const { code, stdout, stderr } = await cli(args);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.match(stderr, message);
      assert.match(stderr, /--help' for usage\.\n$/);
    });
  }

  it('prints the command list on --help, and on no command (exit 2)', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: sluice <command>[\s\S]*simulate +Run a scenario/);
    const none = await cli([]);
    assert.equal(none.code, 2);
    assert.equal(none.stderr, help.stdout);
    assert.match((await cli(['--version'])).stdout, /^sluice \d+\.\d+\.\d+/);
  });
});

describe('sluice simulate: scenario files and outputs', () => {
  it('runs the scenario file’s own policy by default and prints the summary table', async () => {
    const { code, stdout, stderr } = await cli(['simulate', 'small.yaml'], { cwd: dir });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^small\nA small overload\.\nseed 3 · 3 s simulated · SLO 99% within 200 ms\n/);
    assert.match(stdout, /^ +limiter$/m);
    assert.match(stdout, /^Goodput +\/s +[\d.,]+$/m);
    assert.match(stdout, /^limit \(max [\d.]+\)$/m);
  });

  it('compares the file’s policies, writes JSON and HTML files, and prints nothing with --quiet', async () => {
    const { code, stdout, stderr } = await cli(
      ['simulate', 'small.yaml', '--compare', '--json', 'out.json', '--html', 'reports/out.html', '--quiet'],
      { cwd: dir },
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout, '');
    assert.equal(stderr, '');
    const report = JSON.parse(await readFile(join(dir, 'out.json'), 'utf8')) as JsonReport;
    assert.deepEqual(
      report.runs.map((r) => r.name),
      ['none', 'tight'],
    );
    assert.equal(report.scenario.source, 'small.yaml');
    const html = await readFile(join(dir, 'reports/out.html'), 'utf8');
    assert.match(html, /<svg /);
    assert.doesNotMatch(html, /https?:\/\//);
  });

  it('takes --policies from the file’s list and the presets, and says where it wrote files', async () => {
    const { code, stdout, stderr } = await cli(
      ['simulate', 'small.yaml', '--policies', 'tight,static:4,adaptive', '--html', 'p.html'],
      { cwd: dir },
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^ +tight +static:4 +adaptive$/m);
    assert.equal(stderr, 'wrote p.html\n');
  });

  it('applies --seed and --duration, capping a longer warmup at half the run', async () => {
    const json = async (seed: string) => {
      const r = await cli(['simulate', 'steady-overload', '--duration', '4s', '--seed', seed, '--json', '-']);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as JsonReport;
    };
    const [a, b, c] = [await json('9'), await json('9'), await json('other')];
    assert.equal(a.scenario.seed, 9);
    assert.equal(c.scenario.seed, 'other');
    assert.equal(a.runs[0]!.settings.duration, 4000);
    assert.equal(a.runs[0]!.settings.warmup, 2000);
    assert.deepEqual(a.runs, b.runs, 'the same seed gives the same result');
    assert.notEqual(a.runs[0]!.summary.offered, c.runs[0]!.summary.offered);
  });

  it('prints a built-in scenario as a scenario file that reads back the same', async () => {
    for (const entry of catalogue) {
      const { code, stdout } = await cli(['simulate', entry.name, '--print']);
      assert.equal(code, 0);
      const file = parseScenarioFile(stdout, `${entry.name}.yaml`);
      assert.deepEqual(file.scenario, entry.scenario);
      assert.deepEqual(file.compare, entry.compare);
    }
  });

  it('exits 1 with the reason when an output file cannot be written', async () => {
    const { code, stderr } = await cli(['simulate', 'small.yaml', '--json', 'small.yaml/out.json'], {
      cwd: dir,
    });
    assert.equal(code, 1);
    assert.match(stderr, /^sluice simulate: E\w+: .*small\.yaml/);
  });

  it('reports an invalid scenario file with its line and exits 1', async () => {
    const { code, stdout, stderr } = await cli(['simulate', 'bad.yaml'], { cwd: dir });
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(
      stderr,
      /^sluice: bad\.yaml:6:\d+: unknown option "downstream\.conurrency" .*did you mean "concurrency"\?\n/,
    );
    assert.match(stderr, /\n6 \| downstream: .*\n +\| +\^+\n$/);
    const broken = await cli(['simulate', 'broken.yaml'], { cwd: dir });
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^sluice: broken\.yaml:\d+:\d+: invalid YAML: /);
    const missing = await cli(['simulate', 'none.yaml'], { cwd: dir });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /none\.yaml: cannot read the scenario file \(no such file\)/);
  });
});

describe('sluice simulate: progress', () => {
  const args = ['simulate', 'diurnal', '--duration', '10s', '--compare', '--quiet', '--json', '-'];

  it('draws a bar on a terminal once the run has taken a second, and erases it at the end', async () => {
    const { code, stderr } = await cli(
      args.filter((a) => a !== '--quiet'),
      { tty: true, clock: steppingClock() },
    );
    assert.equal(code, 0);
    const erase = '\x1b[K';
    assert.match(stderr, /\rsimulating diurnal: none \(1\/3\) +\d+\/10 s \[[█░]+\] +\d+%/);
    assert.ok(stderr.includes(`%${erase}\r`), 'each redraw clears the rest of the line');
    assert.match(stderr, /\rsimulating diurnal: adaptive \(3\/3\)/);
    assert.ok(stderr.endsWith(`\r${erase}`), 'the bar is erased');
  });

  it('stays silent off a terminal, with --no-progress, with --quiet, and for short runs', async () => {
    const slow = steppingClock;
    assert.equal((await cli(args, { tty: false, clock: slow() })).stderr, '');
    assert.equal((await cli([...args, '--no-progress'], { tty: true, clock: slow() })).stderr, '');
    assert.equal((await cli(args, { tty: true, clock: slow() })).stderr, '', '--quiet');
    const quick = args.filter((a) => a !== '--quiet');
    assert.equal((await cli(quick, { tty: true, clock: new VirtualClock() })).stderr, '', 'under a second');
  });

  it('exits 130 when interrupted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('interrupted'));
    const { code, stderr } = await cli(['simulate', 'diurnal'], { signal: controller.signal });
    assert.equal(code, 130);
    assert.equal(stderr, 'sluice simulate: interrupted\n');
  });
});
