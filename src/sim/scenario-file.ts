import { readFile } from 'node:fs/promises';
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type YAMLError,
} from 'yaml';
import { ConfigError, isConfigError, isSluiceError } from '../core/errors.ts';
import { FileError } from '../core/file-error.ts';
import { isPlainObject } from '../core/spec.ts';
import { type Scenario, type SimulateOptions, Simulation } from './run.ts';
import { type ComparePolicy, policyLabel, resolvePolicies } from './scenarios/compare.ts';

/**
 * Scenario files: a `Scenario` written in YAML (or JSON, which YAML reads too), plus an optional
 * `compare:` list of the policies to run on the same workload. A file is validated as a whole when it is
 * read, and every error names the file, the path of the bad value in the scenario and its line:
 *
 * ```text
 * sluice: overload.yaml:7:11: option "workload.rate" must be a finite number >= 0, got "fast"
 * ```
 *
 * ```yaml
 * name: my-overload
 * duration: 60000
 * workload: { type: poisson, rate: 1100, timeout: 1000 }
 * downstream: { service: { type: lognormal, median: 20, p99: 120 }, concurrency: 20 }
 * policy: { type: limiter, limit: { algorithm: gradient2 } }
 * slo: { latency: 250 }
 * compare:
 *   - none                                         # a preset: none, static, static:N, adaptive, vegas, aimd
 *   - { name: static-40, policy: { type: static, limit: 40 } }
 *   - { type: limiter, limit: { algorithm: vegas } }   # a bare policy, named by its type
 * ```
 */
export interface ScenarioFile {
  /** The file's name, as given (for messages and reports). */
  readonly file: string;
  /** The scenario, without `compare`. */
  readonly scenario: Scenario;
  /** The file's `compare:` list, resolved and validated; `undefined` when it has none. */
  readonly compare: readonly ComparePolicy[] | undefined;
}

export interface ScenarioFileOptions {
  /** Extra policy types the scenario may use (see `SimulateOptions.policies`). */
  readonly policies?: SimulateOptions['policies'];
  /** The file's name in messages (say, the path as the user typed it). Default the path read. */
  readonly name?: string;
}

/** A scenario file that cannot be read, parsed or validated. The message locates the problem. */
export class ScenarioFileError extends FileError {
  readonly code = 'SLUICE_SCENARIO_FILE';
  override readonly name = 'ScenarioFileError';
}

export function isScenarioFileError(error: unknown): error is ScenarioFileError {
  return isSluiceError(error) && error.code === 'SLUICE_SCENARIO_FILE';
}

/** Reads, parses and validates the scenario file at `path` (UTF-8). */
export async function loadScenarioFile(
  path: string,
  options: ScenarioFileOptions = {},
): Promise<ScenarioFile> {
  const name = options.name ?? path;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(error);
    throw new ScenarioFileError(name, `cannot read the scenario file (${why})`, { cause: error });
  }
  return parseScenarioFile(text, name, options);
}

/** Parses and validates the text of a scenario file; `file` names it in errors. */
export function parseScenarioFile(
  text: string,
  file = '<scenario>',
  options: ScenarioFileOptions = {},
): ScenarioFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const source = new Source(file, text, doc, lines);
  const syntax = doc.errors[0];
  if (syntax !== undefined) throw source.syntaxError(syntax);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ScenarioFileError(file, `cannot read the YAML (${(error as Error).message})`, { cause: error });
  }
  if (value == null) throw new ScenarioFileError(file, 'the file is empty: it must hold a scenario');
  if (!isPlainObject(value)) {
    throw source.error(
      new ConfigError(
        'scenario',
        value,
        'a mapping of scenario options (duration, workload, downstream, ...)',
      ),
      '',
    );
  }
  const { compare, ...scenario } = value;
  try {
    new Simulation(scenario as unknown as Scenario, options);
  } catch (error) {
    if (!isConfigError(error)) throw error;
    throw source.error(withCompareKey(error), error.option);
  }
  return {
    file,
    scenario: scenario as unknown as Scenario,
    compare:
      compare === undefined
        ? undefined
        : compareList(compare, scenario as unknown as Scenario, source, options),
  };
}

function compareList(
  spec: unknown,
  scenario: Scenario,
  source: Source,
  options: ScenarioFileOptions,
): ComparePolicy[] {
  if (!Array.isArray(spec) || spec.length === 0) {
    throw source.error(
      new ConfigError('compare', spec, 'a non-empty list of policies (names, or { name, policy })'),
      'compare',
    );
  }
  return spec.map((entry: unknown, i) => {
    const at = `compare[${i}]`;
    let chosen: ComparePolicy;
    let policyPath = at;
    if (typeof entry === 'string') {
      try {
        chosen = resolvePolicies([entry], scenario, [], at)[0]!;
      } catch (error) {
        throw isConfigError(error) ? source.error(error, at) : error;
      }
    } else if (isPlainObject(entry) && 'policy' in entry) {
      for (const key of Object.keys(entry)) {
        if (key !== 'name' && key !== 'policy') {
          const e = new ConfigError(
            `${at}.${key}`,
            entry[key],
            'absent (unknown option; known: name, policy)',
          );
          throw source.error(e, e.option);
        }
      }
      const name = entry['name'] ?? policyLabel(entry['policy'] as Scenario['policy']);
      if (typeof name !== 'string' || name === '') {
        const e = new ConfigError(`${at}.name`, name, 'a non-empty string');
        throw source.error(e, e.option);
      }
      policyPath = `${at}.policy`;
      chosen = { name, policy: entry['policy'] as ComparePolicy['policy'] };
    } else if (isPlainObject(entry)) {
      chosen = {
        name: policyLabel(entry as ComparePolicy['policy']),
        policy: entry as ComparePolicy['policy'],
      };
    } else {
      const e = new ConfigError(
        at,
        entry,
        'a policy name, { name, policy } or a policy object ({ type, ... })',
      );
      throw source.error(e, at);
    }
    try {
      new Simulation({ ...scenario, policy: chosen.policy }, options);
    } catch (error) {
      if (!isConfigError(error)) throw error;
      // Only the policy differs from the validated scenario, so the error is inside it.
      const path = error.option.startsWith('policy') ? policyPath + error.option.slice(6) : error.option;
      throw source.error(new ConfigError(path, error.value, error.expected), path);
    }
    return chosen;
  });
}

/** A top-level unknown key: the known keys of a file include `compare`. */
function withCompareKey(error: ConfigError): ConfigError {
  const prefix = 'absent (unknown option; known: ';
  if (/[.[]/.test(error.option) || !error.expected.startsWith(prefix)) return error;
  return new ConfigError(error.option, error.value, `${error.expected.slice(0, -1)}, compare)`);
}

/** The parsed file, to turn scenario paths into lines. */
class Source {
  readonly #file: string;
  readonly #text: string;
  readonly #doc: Document.Parsed;
  readonly #lines: LineCounter;

  constructor(file: string, text: string, doc: Document.Parsed, lines: LineCounter) {
    this.#file = file;
    this.#text = text;
    this.#doc = doc;
    this.#lines = lines;
  }

  syntaxError(error: YAMLError): ScenarioFileError {
    const [start, end] = error.pos;
    const { line, col } = this.#lines.linePos(start);
    // Without prettyErrors the message is the bare description, e.g. "Map keys must be unique".
    const detail = `invalid YAML: ${error.message.replace(/\s+/g, ' ').trim()}`;
    return new ScenarioFileError(this.#file, detail, {
      line,
      column: col,
      excerpt: this.#excerpt(start, end),
      cause: error,
    });
  }

  /** The file error for `error`, located at `path` (the nearest node that exists, else the file). */
  error(error: ConfigError, path: string): ScenarioFileError {
    const unknownKey = error.expected.startsWith('absent');
    const range = locate(this.#doc, tokens(path), unknownKey);
    const detail = describeError(error);
    if (range === undefined)
      return new ScenarioFileError(this.#file, detail, { path: error.option, cause: error });
    const { line, col } = this.#lines.linePos(range[0]);
    return new ScenarioFileError(this.#file, detail, {
      path: error.option,
      line,
      column: col,
      excerpt: this.#excerpt(range[0], range[1]),
      cause: error,
    });
  }

  /** The line before the problem, its line, and a caret line under [start, end). */
  #excerpt(start: number, end: number): string {
    const { line, col } = this.#lines.linePos(start);
    const starts = this.#lines.lineStarts;
    const lineText = (n: number): string => {
      const from = starts[n - 1] ?? this.#text.length;
      const to = starts[n] ?? this.#text.length;
      return this.#text.slice(from, to).replace(/\r?\n$/, '');
    };
    const gutter = String(line).length;
    const out: string[] = [];
    for (let n = Math.max(1, line - 1); n <= line; n++) {
      out.push(`${String(n).padStart(gutter)} | ${lineText(n)}`);
    }
    const text = lineText(line);
    const width = Math.max(1, Math.min(end - start, text.length - col + 1));
    out.push(`${' '.repeat(gutter)} | ${' '.repeat(col - 1)}${'^'.repeat(width)}`);
    return out.join('\n');
  }
}

/** `workload[1].rate` as `["workload", 1, "rate"]`. */
function tokens(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of path.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
    out.push(part.startsWith('[') ? Number(part.slice(1, -1)) : part);
  }
  return out;
}

/**
 * Source range of the value at `path`, or of its key when `key` is set (an unknown option). A path that
 * does not exist in the file (a missing option) resolves to its nearest ancestor. Map keys may contain
 * dots (`{ "0.5": 1 }` is reported as `x.0.5`), so at a map the longest run of names that is a key wins.
 */
function locate(
  doc: Document.Parsed,
  path: readonly (string | number)[],
  key: boolean,
): [number, number] | undefined {
  let node: Node | null | undefined = doc.contents;
  let found: [number, number] | undefined = rangeOf(node);
  let i = 0;
  while (i < path.length && node != null) {
    if (isAlias(node)) node = node.resolve(doc);
    const step = path[i]!;
    if (isSeq(node) && typeof step === 'number') {
      const item = node.items[step];
      if (item === undefined) break;
      node = item as Node;
      found = rangeOf(node) ?? found;
      i++;
      continue;
    }
    if (!isMap(node)) break;
    const map = node;
    let matched = false;
    for (let j = path.length; j > i && !matched; j--) {
      const slice = path.slice(i, j);
      if (slice.some((s) => typeof s === 'number')) continue;
      const name = slice.join('.');
      for (const pair of map.items) {
        const k = pair.key as Node | null;
        if (!isScalar(k) || String(k.value) !== name) continue;
        const last = j === path.length;
        const value = pair.value as Node | null;
        found = (last && key ? rangeOf(k) : (rangeOf(value) ?? rangeOf(k))) ?? found;
        node = value;
        i = j;
        matched = true;
        break;
      }
    }
    if (!matched) break;
  }
  return found;
}

function rangeOf(node: Node | null | undefined): [number, number] | undefined {
  const range = node?.range;
  return range == null ? undefined : [range[0], range[1]];
}

/** The message of `error` without its `sluice:` prefix; an unknown option is said so plainly. */
function describeError(error: ConfigError): string {
  const known = /^absent \(unknown option; known: (.*)\)$/.exec(error.expected);
  if (known !== null) return `unknown option "${error.option}" (known: ${known[1]})${suggestion(error)}`;
  if (error.expected.startsWith('absent'))
    return `unknown option "${error.option}" (not an option of this component)`;
  return error.message.replace(/^sluice: /, '');
}

/** `; did you mean "duration"?` for a misspelt option, when one known option is close. */
function suggestion(error: ConfigError): string {
  const known = /^absent \(unknown option; known: (.*)\)$/.exec(error.expected);
  if (known === null) return '';
  const typed = tokens(error.option).at(-1);
  if (typeof typed !== 'string') return '';
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(typed.length / 3)) + 1;
  for (const candidate of known[1]!.split(', ')) {
    const d = distance(typed.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : `; did you mean "${best}"?`;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}
