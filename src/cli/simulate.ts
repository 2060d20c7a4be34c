import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { isConfigError } from '../core/errors.ts';
import { renderHtml } from '../sim/report/html.ts';
import { jsonReport } from '../sim/report/json.ts';
import type { SimReport } from '../sim/report/report.ts';
import { renderTable } from '../sim/report/table.ts';
import type { Scenario } from '../sim/run.ts';
import { loadScenarioFile } from '../sim/scenario-file.ts';
import {
  type ComparePolicy,
  comparePolicies,
  defaultComparison,
  policyLabel,
  presetPolicy,
  resolvePolicies,
  uniqueNames,
} from '../sim/scenarios/compare.ts';
import { builtinScenario, catalogue } from '../sim/scenarios/index.ts';
import type { Command } from './command.ts';
import { fromParseArgs, UsageError } from './errors.ts';
import type { CliIo } from './io.ts';
import { ProgressBar } from './progress.ts';

const help = `Usage: sluice simulate <scenario> [options]
       sluice simulate --list

Runs a scenario on virtual time, deterministically, and reports what happened: goodput, latency, what
was shed and why, and the limit and queues over time. <scenario> is a YAML (or JSON) scenario file or
the name of a built-in scenario.

Options:
  --compare              run several policies on the same workload, side by side: the scenario's
                         compare list, or none, static and adaptive
  --policies <a,b,...>   compare these policies: names from the scenario's compare list, or none,
                         static, static:<limit>, adaptive, vegas, aimd
  --seed <seed>          seed of every random stream (a number or any text); default the scenario's
  --duration <time>      simulated time to run: 90s, 2m, 1500ms or milliseconds; a longer warmup is
                         cut to half of it
  --json <file|->        write the JSON summary to a file, or to standard output with -
  --html <file>          write a self-contained HTML report with charts (opens offline)
  --quiet                print no table and no progress (files are still written)
  --no-progress          never show the progress bar (shown on a terminal for runs over 1 s)
  --list                 list the built-in scenarios
  --print                print the scenario as YAML (with its compare list) and exit: a starting
                         point for a scenario file of your own
  -h, --help             show this help

Examples:
  sluice simulate --list
  sluice simulate capacity-drop --compare --html capacity-drop.html
  sluice simulate my-service.yaml --policies none,static:40,adaptive --json -
  sluice simulate flash-crowd --print > my-flash-crowd.yaml

Exit status: 0 on success, 1 if the scenario is invalid or a file cannot be read or written,
2 on a usage error, 130 if interrupted.
`;

const options = {
  compare: { type: 'boolean' },
  policies: { type: 'string' },
  seed: { type: 'string' },
  duration: { type: 'string' },
  json: { type: 'string' },
  html: { type: 'string' },
  quiet: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  list: { type: 'boolean' },
  print: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `sluice simulate`: runs a scenario file or a built-in scenario, one policy or several compared. */
export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'Run a scenario on virtual time; compare policies side by side',
  help,
  run: simulate,
};

/** A scenario to run, whichever way it was named. */
interface Loaded {
  /** Short name, for the progress bar. */
  readonly name: string;
  readonly title: string;
  readonly description: string | undefined;
  readonly source: string;
  readonly scenario: Scenario;
  /** The policies the scenario proposes to compare, if any. */
  readonly compare: readonly ComparePolicy[] | undefined;
}

async function simulate(args: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    throw fromParseArgs(error) ?? error;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  if (values.list) {
    io.stdout.write(listing());
    return 0;
  }
  if (positionals.length === 0) {
    throw new UsageError('missing <scenario>: a scenario file, or a built-in scenario (see --list)');
  }
  if (positionals.length > 1) {
    throw new UsageError(`one scenario at a time, got ${positionals.length}: ${positionals.join(' ')}`);
  }
  if (values.json === '') throw new UsageError('--json needs a file name, or - for standard output');
  if (values.html === '' || values.html === '-') throw new UsageError('--html needs a file name');
  const seed = values.seed === undefined ? undefined : parseSeed(values.seed);
  const duration = values.duration === undefined ? undefined : parseDuration(values.duration);

  const loaded = await load(positionals[0]!, io);
  const scenario = override(loaded.scenario, seed, duration);
  if (values.print) {
    io.stdout.write(toYaml(scenario, loaded.compare));
    return 0;
  }
  const policies = choose(values, scenario, loaded);

  const progress =
    io.stderr.isTTY === true && values.quiet !== true && values['no-progress'] !== true
      ? new ProgressBar(io.stderr, io.clock)
      : undefined;
  let runs: Awaited<ReturnType<typeof comparePolicies>>;
  try {
    runs = await comparePolicies(scenario, policies, {
      ...(io.signal === undefined ? {} : { signal: io.signal }),
      ...(progress === undefined
        ? {}
        : {
            onProgress: (p) => {
              const multi = p.runs > 1 ? ` (${p.run + 1}/${p.runs})` : '';
              progress.update(
                (p.run + p.now / p.duration) / p.runs,
                `simulating ${loaded.name}: ${p.name}${multi}  ${Math.round(p.now / 1000)}/${Math.round(p.duration / 1000)} s`,
              );
            },
          }),
    });
  } finally {
    progress?.done();
  }

  const report: SimReport = {
    title: loaded.title,
    description: loaded.description,
    source: loaded.source,
    scenario,
    runs,
  };
  if (values.quiet !== true && values.json !== '-') {
    const columns = io.stdout.isTTY === true ? io.stdout.columns : undefined;
    io.stdout.write(renderTable(report, { width: columns === undefined ? 100 : Math.min(columns, 120) }));
  }
  if (values.json !== undefined) {
    const text = `${JSON.stringify(jsonReport(report), null, 2)}\n`;
    if (values.json === '-') io.stdout.write(text);
    else await save(io, values.json, text, values.quiet === true);
  }
  if (values.html !== undefined) await save(io, values.html, renderHtml(report), values.quiet === true);
  return 0;
}

function parse(args: readonly string[]) {
  return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
}

/** A built-in scenario by name, or a scenario file by path. */
async function load(name: string, io: CliIo): Promise<Loaded> {
  const looksLikeFile = /[/\\]|\.(ya?ml|json)$/i.test(name);
  const builtin = looksLikeFile ? undefined : builtinScenario(name);
  if (builtin !== undefined) {
    return {
      name: builtin.name,
      title: `${builtin.name} — ${builtin.title}`,
      description: builtin.description,
      source: `built-in scenario ${builtin.name}`,
      scenario: builtin.scenario,
      compare: builtin.compare,
    };
  }
  if (!looksLikeFile) {
    const close = catalogue.map((e) => e.name).filter((n) => n.startsWith(name.slice(0, 3)));
    const hint = close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : '';
    throw new UsageError(
      `no built-in scenario "${name}"${hint}; give a file ending in .yaml, or see --list for the built-in ones`,
    );
  }
  const file = await loadScenarioFile(resolve(io.cwd, name), { name });
  const s = file.scenario;
  const short = s.name ?? basename(name).replace(/\.(ya?ml|json)$/i, '');
  return {
    name: short,
    title: short,
    description: s.description,
    source: name,
    scenario: s,
    compare: file.compare,
  };
}

/** The scenario with the command line's seed and duration. */
function override(
  scenario: Scenario,
  seed: number | string | undefined,
  duration: number | undefined,
): Scenario {
  let s = scenario;
  if (seed !== undefined) s = { ...s, seed };
  if (duration !== undefined) {
    s = { ...s, duration };
    if (s.warmup !== undefined && s.warmup > duration / 2) s = { ...s, warmup: duration / 2 };
  }
  return s;
}

/** The policies to run: `--policies`, or `--compare`, or the scenario's own policy. */
function choose(
  values: { readonly compare?: boolean | undefined; readonly policies?: string | undefined },
  scenario: Scenario,
  loaded: Loaded,
): ComparePolicy[] {
  if (values.policies !== undefined) {
    const names = values.policies
      .split(',')
      .map((n) => n.trim())
      .filter((n) => n !== '');
    if (names.length === 0) throw new UsageError('--policies needs at least one policy name');
    try {
      return uniqueNames(resolvePolicies(names, scenario, loaded.compare ?? []));
    } catch (error) {
      if (isConfigError(error))
        throw new UsageError(`--policies: unknown policy "${String(error.value)}" (${error.expected})`);
      throw error;
    }
  }
  if (values.compare === true) {
    const list = loaded.compare ?? defaultComparison.map((n) => presetPolicy(n, scenario)!);
    return uniqueNames(list);
  }
  return [{ name: policyLabel(scenario.policy), policy: scenario.policy ?? { type: 'none' } }];
}

function parseSeed(text: string): number | string {
  if (text === '') throw new UsageError('--seed needs a value');
  return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
}

const units: Readonly<Record<string, number>> = {
  '': 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
};

/** `90s`, `2m`, `1500ms`, `1.5h` or plain milliseconds, as milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?$/.exec(text.trim());
  const value = m === null ? Number.NaN : Number(m[1]) * units[m[2] ?? '']!;
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new UsageError(`--duration must be a time > 0 such as 90s, 2m or 1500ms, got "${text}"`);
  }
  return value;
}

async function save(io: CliIo, path: string, text: string, quiet: boolean): Promise<void> {
  const target = resolve(io.cwd, path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, text, 'utf8');
  if (!quiet) io.stderr.write(`wrote ${path}\n`);
}

/** A scenario file's text for `scenario` and its compare list. */
function toYaml(scenario: Scenario, compare: readonly ComparePolicy[] | undefined): string {
  const data = compare === undefined ? scenario : { ...scenario, compare };
  return stringify(data, { lineWidth: 100, flowCollectionPadding: true, collectionStyle: 'block' });
}

function listing(): string {
  const width = Math.max(...catalogue.map((e) => e.name.length)) + 2;
  const lines = catalogue.map((e) => {
    const seconds = Math.round(e.scenario.duration / 1000);
    return `  ${e.name.padEnd(width)}${e.title} (${seconds} s)`;
  });
  return [
    'Built-in scenarios:',
    '',
    ...lines,
    '',
    'Run one with: sluice simulate <name> --compare [--html report.html]',
    '',
  ].join('\n');
}
