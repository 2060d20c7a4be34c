import type { CliIo } from './io.ts';

/**
 * A subcommand of `sluice`. Each lives in its own module and is listed in `commands` (cli.ts); it parses
 * its own arguments and returns the exit status. Wrong usage is reported by throwing a `UsageError`.
 */
export interface Command {
  /** The word after `sluice`. */
  readonly name: string;
  /** One line for `sluice --help`. */
  readonly summary: string;
  /** The full text of `sluice <name> --help`. */
  readonly help: string;
  run(args: readonly string[], io: CliIo): Promise<number>;
}
