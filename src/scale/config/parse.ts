import { dirname, resolve } from 'node:path';
import { readConfigFile, YamlSource } from '../../config-file/yaml.ts';
import { ConfigError, isConfigError } from '../../core/errors.ts';
import { array, checkKeys, object } from '../../core/spec.ts';
import { actuatorTypes, readActuator, validActuator } from './actuators.ts';
import { collectorOf, readCollector } from './collectors.ts';
import {
  controllerOptions,
  readAnalyser,
  readBehavior,
  readCooldown,
  readCost,
  readRollback,
  readShadow,
} from './controller.ts';
import { optionalTime } from './durations.ts';
import { AutoscaleConfigError } from './errors.ts';
import { type Out, put, type Raw } from './fields.ts';
import { readPolicies } from './policies.ts';
import { Source } from './source.ts';
import { standInClients } from './stand-ins.ts';
import type { AutoscaleConfig } from './types.ts';

export interface ParseAutoscaleConfigOptions {
  /** The file's name in messages. Default `"<autoscale config>"`. */
  readonly file?: string;
  /** Directory that relative paths in the config are relative to. Default the process's working directory. */
  readonly dir?: string;
}

/**
 * Parses and validates the text of an autoscaler config (YAML or JSON). Every key is checked, and every
 * part is validated as the factories would validate it (without connecting to anything), so that a config
 * that parses builds. Throws an `AutoscaleConfigError` locating the problem.
 *
 * ```yaml
 * interval: 15s
 * max: 20
 * collectors:
 *   - { type: prometheus, url: http://127.0.0.1:9464/metrics, metrics: { inflight: http_inflight } }
 * policies:
 *   - { type: target, signal: inflight, target: 8 }
 * actuator: { type: kubernetes, kind: Deployment, name: api, namespace: shop }
 * ```
 */
export function parseAutoscaleConfig(
  text: string,
  options: ParseAutoscaleConfigOptions = {},
): AutoscaleConfig {
  const file = options.file ?? '<autoscale config>';
  const yaml = new YamlSource(text);
  const source = new Source(file, yaml);
  const syntax = yaml.syntax;
  if (syntax !== undefined) throw source.syntaxError(syntax);
  let value: unknown;
  try {
    value = yaml.doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new AutoscaleConfigError(file, `cannot read the YAML (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (value == null)
    throw new AutoscaleConfigError(file, 'the file is empty: it must hold an autoscaler config');
  try {
    const raw = object(
      '',
      value,
      'a mapping of autoscaler options (max, collectors, policies, actuator, ...)',
    );
    return readConfig(raw, options.dir ?? process.cwd());
  } catch (error) {
    if (isConfigError(error)) throw source.error(error);
    throw error;
  }
}

/** Reads, parses and validates the autoscaler config file at `path`; `name` is the file in messages (default `path`). */
export async function loadAutoscaleConfig(
  path: string,
  options: { readonly name?: string } = {},
): Promise<AutoscaleConfig> {
  const name = options.name ?? path;
  const text = await readConfigFile(
    path,
    (why, cause) => new AutoscaleConfigError(name, `cannot read the autoscaler config (${why})`, { cause }),
  );
  return parseAutoscaleConfig(text, { file: name, dir: dirname(resolve(path)) });
}

const topKeys = [
  'name',
  'mode',
  'interval',
  'min',
  'max',
  'warmup',
  'cooldown',
  'behavior',
  'cost',
  'rollback',
  'horizon',
  'analyser',
  'collectTimeout',
  'scaleTimeout',
  'staleAfter',
  'collectors',
  'policies',
  'actuator',
  'shadow',
] as const;

function readConfig(raw: Raw, dir: string): AutoscaleConfig {
  checkKeys('', raw, topKeys);
  const out: Out = {};
  put(out, 'name', raw['name']);
  put(out, 'mode', raw['mode']);
  for (const key of ['interval', 'warmup', 'horizon', 'collectTimeout', 'scaleTimeout', 'staleAfter']) {
    put(out, key, optionalTime(key, raw[key]));
  }
  put(out, 'min', raw['min']);
  if (raw['max'] === undefined)
    throw new ConfigError('max', undefined, 'the most replicas, an integer >= min');
  put(out, 'max', raw['max']);
  if (raw['cooldown'] !== undefined) out['cooldown'] = readCooldown(raw['cooldown']);
  put(out, 'behavior', readBehavior('behavior', raw['behavior']));
  if (raw['cost'] !== undefined) out['cost'] = readCost(raw['cost']);
  if (raw['rollback'] !== undefined) out['rollback'] = readRollback(raw['rollback']);
  if (raw['analyser'] !== undefined) out['analyser'] = readAnalyser(raw['analyser']);
  const collectors =
    raw['collectors'] === undefined ? [] : array('collectors', raw['collectors'], 'a list of collectors');
  out['collectors'] = collectors.map((c, i) => readCollector(`collectors[${i}]`, c));
  out['policies'] = readPolicies('policies', raw['policies']);
  if (raw['actuator'] === undefined) {
    throw new ConfigError(
      'actuator',
      undefined,
      `what applies the count: a mapping with a type (${actuatorTypes.join(', ')})`,
    );
  }
  out['actuator'] = readActuator('actuator', raw['actuator'], dir);
  if (raw['shadow'] !== undefined) out['shadow'] = readShadow(raw['shadow']);
  const config = out as unknown as AutoscaleConfig;
  validate(config);
  return config;
}

/** Builds what the config describes, with stand-ins for clients and actuators, so the factories check it all. */
function validate(config: AutoscaleConfig): void {
  const collectors = config.collectors.map((c, i) =>
    collectorOf(c, `collectors[${i}]`, undefined, standInClients),
  );
  const actuator = validActuator(config.actuator);
  controllerOptions(config, { collectors, actuator });
}
