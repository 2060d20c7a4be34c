import { isSluiceError, SluiceError } from '../core/errors.ts';

/** The command line is wrong (an unknown option, a missing argument): the CLI exits with status 2. */
export class UsageError extends SluiceError {
  readonly code = 'SLUICE_USAGE';
  override readonly name = 'UsageError';
}

export function isUsageError(error: unknown): error is UsageError {
  return isSluiceError(error) && error.code === 'SLUICE_USAGE';
}

/**
 * The usage error for an error thrown by `node:util` `parseArgs` (unknown option, missing value), or
 * `undefined` when `error` is something else.
 */
export function fromParseArgs(error: unknown): UsageError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  const message = (error as Error).message;
  const option = /'(-[^']*)'/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${option ?? message}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(message.replace(/^Option /, 'option '));
    default:
      return new UsageError(message);
  }
}
