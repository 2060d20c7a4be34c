import type { YAMLError } from 'yaml';
import { plainMessage, readConfigFile, tokens, unknownOption, YamlSource } from '../config-file/yaml.ts';
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
  const text = await readConfigFile(
    path,
    (why, cause) => new ScenarioFileError(name, `cannot read the scenario file (${why})`, { cause }),
  );
  return parseScenarioFile(text, name, options);
}

/** Parses and validates the text of a scenario file; `file` names it in errors. */
export function parseScenarioFile(
  text: string,
  file = '<scenario>',
  options: ScenarioFileOptions = {},
): ScenarioFile {
  const yaml = new YamlSource(text);
  const source = new Source(file, yaml);
  const syntax = yaml.syntax;
  if (syntax !== undefined) throw source.syntaxError(syntax);
  let value: unknown;
  try {
    value = yaml.doc.toJS({ maxAliasCount: 100 });
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
  readonly #yaml: YamlSource;

  constructor(file: string, yaml: YamlSource) {
    this.#file = file;
    this.#yaml = yaml;
  }

  syntaxError(error: YAMLError): ScenarioFileError {
    const { detail, where } = this.#yaml.syntaxError(error);
    return new ScenarioFileError(this.#file, detail, where);
  }

  /**
   * The file error for `error`, located at `path` (of its key for an unknown option), or at the nearest
   * node that exists, else the whole file. Map keys may contain dots (`{ "0.5": 1 }` is reported as
   * `x.0.5`), so at a map the longest run of names that is a key wins.
   */
  error(error: ConfigError, path: string): ScenarioFileError {
    const range = this.#yaml.locate(tokens(path), {
      key: error.expected.startsWith('absent'),
      orRoot: true,
      dottedKeys: true,
    });
    return new ScenarioFileError(this.#file, describeError(error), this.#yaml.locationOf(error, range));
  }
}

/** The message of `error` without its `sluice:` prefix; an unknown option is said so plainly. */
function describeError(error: ConfigError): string {
  const unknown = unknownOption(error);
  if (unknown !== undefined) return unknown;
  if (error.expected.startsWith('absent'))
    return `unknown option "${error.option}" (not an option of this component)`;
  return plainMessage(error);
}
