import { ConfigError, isConfigError, isSluiceError, SluiceError } from '../../core/errors.ts';
import { FileError } from '../../core/file-error.ts';
import { join } from '../../core/spec.ts';

/** An autoscaler config file that cannot be read, parsed or validated; the message names file, line and path. */
export class AutoscaleConfigError extends FileError {
  readonly code = 'SLUICE_AUTOSCALE_CONFIG';
  override readonly name = 'AutoscaleConfigError';
}

export function isAutoscaleConfigError(error: unknown): error is AutoscaleConfigError {
  return isSluiceError(error) && error.code === 'SLUICE_AUTOSCALE_CONFIG';
}

/** A config asks for a collector or actuator whose client library (an optional peer dependency) cannot be loaded. */
export class MissingPackageError extends SluiceError {
  readonly code = 'SLUICE_MISSING_PACKAGE';
  override readonly name = 'MissingPackageError';
  /** The package to install, e.g. `"amqplib"`. */
  readonly packageName: string;
  /** Path of the part of the config that needs it, e.g. `"collectors[2]"`. */
  readonly option: string;

  constructor(packageName: string, option: string, what: string, cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    // A missing package says so; anything else (a broken install, a missing dependency of it) is shown.
    const plain =
      (cause as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND' &&
      message.includes(`'${packageName}'`);
    super(
      `sluice: ${option} (${what}) needs the package ${packageName}, which cannot be loaded; ` +
        `install it beside sluice: npm install ${packageName}${plain ? '' : ` (${message})`}`,
      { cause },
    );
    this.packageName = packageName;
    this.option = option;
  }
}

export function isMissingPackageError(error: unknown): error is MissingPackageError {
  return isSluiceError(error) && error.code === 'SLUICE_MISSING_PACKAGE';
}

/** How a factory names its options, to name them as the file does. */
interface Relocation {
  /** The factory's own prefix (`"queueBased"` in `"queueBased.perReplica"`), dropped. */
  readonly prefix?: string;
  /** Option names the file spells differently, by segment. */
  readonly rename?: ReadonlyMap<string, string>;
  /** The controller names its `horizon` under `analyser.`; the file has it at the top. */
  readonly horizon?: boolean;
}

/** Runs `make`, naming the options of a `ConfigError` it throws under `path`, as the file spells them. */
export function relocated<T>(path: string, how: Relocation, make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (!isConfigError(error)) throw error;
    let rest = error.option;
    if (how.horizon && rest === 'analyser.horizon') rest = 'horizon';
    if (rest === 'options' || rest === how.prefix) rest = '';
    else if (how.prefix !== undefined && rest.startsWith(`${how.prefix}.`))
      rest = rest.slice(how.prefix.length + 1);
    const rename = how.rename;
    if (rename !== undefined) rest = rest.replace(/[^.[\]]+/g, (segment) => rename.get(segment) ?? segment);
    const option = rest === '' ? path : rest.startsWith('[') ? `${path}${rest}` : join(path, rest);
    throw new ConfigError(option, error.value, error.expected);
  }
}
