import { readFile } from 'node:fs/promises';
import { isConfigError } from '../core/errors.ts';
import { isScenarioFileError } from '../sim/scenario-file.ts';
import { autoscaleCommand } from './autoscale.ts';
import type { Command } from './command.ts';
import { demoCommand } from './demo.ts';
import { isUsageError } from './errors.ts';
import type { CliIo } from './io.ts';
import { proxyCommand } from './proxy.ts';
import { simulateCommand } from './simulate.ts';

/**
 * The `sluice` command line. Subcommands are modules implementing `Command`; `demo`, `proxy`,
 * `autoscale` and `dashboard` join `simulate` here as they are written.
 */
export const commands: readonly Command[] = [demoCommand, simulateCommand, proxyCommand, autoscaleCommand];

/** Exit statuses. */
export const exitCodes = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 4;
  return `Usage: sluice <command> [options]

Adaptive backpressure and adaptive scaling for Node.js services.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

Options:
  -h, --help       show this help (after a command: that command's help)
  -v, --version    print the version

Run 'sluice <command> --help' for a command's options.
`;
}

/**
 * Runs the command line `args` (without the node and script paths) and returns the exit status: 0 on
 * success, 1 on a failure (an invalid scenario, a file that cannot be read or written), 2 on a usage
 * error, 130 when interrupted through `io.signal`.
 */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined) {
    io.stderr.write(mainHelp());
    return exitCodes.usage;
  }
  if (first === '-h' || first === '--help') {
    io.stdout.write(mainHelp());
    return exitCodes.ok;
  }
  if (first === 'help') {
    const command = rest[0] === undefined ? undefined : commands.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && command === undefined)
      return usage(io, 'sluice', `unknown command "${rest[0]}"`);
    io.stdout.write(command === undefined ? mainHelp() : command.help);
    return exitCodes.ok;
  }
  if (first === '-v' || first === '--version') {
    io.stdout.write(`${await version()}\n`);
    return exitCodes.ok;
  }
  const command = commands.find((c) => c.name === first);
  if (command === undefined) {
    const what = first.startsWith('-') ? `unknown option ${first}` : `unknown command "${first}"`;
    return usage(io, 'sluice', `${what}; commands: ${commands.map((c) => c.name).join(', ')}`);
  }
  const prefix = `sluice ${command.name}`;
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (isUsageError(error)) return usage(io, prefix, error.message, command.name);
    if (io.signal?.aborted === true) {
      io.stderr.write(`${prefix}: interrupted\n`);
      return exitCodes.interrupted;
    }
    if (isScenarioFileError(error)) {
      io.stderr.write(`${error.message}\n${error.excerpt === null ? '' : `${error.excerpt}\n`}`);
      return exitCodes.failure;
    }
    if (isConfigError(error)) {
      io.stderr.write(`${error.message}\n`);
      return exitCodes.failure;
    }
    const code = (error as NodeJS.ErrnoException | null)?.code;
    if (typeof code === 'string' && typeof (error as NodeJS.ErrnoException).syscall === 'string') {
      io.stderr.write(`${prefix}: ${(error as Error).message}\n`);
      return exitCodes.failure;
    }
    throw error;
  }
}

function usage(io: CliIo, prefix: string, message: string, command?: string): number {
  const more =
    command === undefined ? "Run 'sluice --help' for usage." : `Run 'sluice ${command} --help' for usage.`;
  io.stderr.write(`${prefix}: ${message}\n${more}\n`);
  return exitCodes.usage;
}

async function version(): Promise<string> {
  // The same relative path from src/cli/ and from dist/cli/.
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8');
  return `sluice ${(JSON.parse(text) as { version: string }).version}`;
}
