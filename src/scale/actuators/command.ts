import { type ChildProcess, spawn } from 'node:child_process';
import { basename } from 'node:path';
import { type Clock, systemClock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { integer, or, positive } from '../../core/validate.ts';
import type { Actuator, Capacity } from '../types.ts';
import { ActuatorError, ActuatorTimeoutError, CommandError, quote } from './errors.ts';
import { ReportedCapacity, type ReportedCapacityOptions } from './reported.ts';
import { withTimeout } from './timeout.ts';

/**
 * Scales by running a command: `kubectl scale`, a cloud CLI, a script. The command runs without a shell
 * (arguments are passed as given, nothing is interpreted), one at a time in the order asked, under a
 * timeout. `{replicas}` and `{previous}` in any argument are replaced by the count asked for and the count
 * last applied; the child also gets them as `SLUICE_REPLICAS` and `SLUICE_PREVIOUS_REPLICAS`.
 */

export interface CommandActuatorOptions extends ReportedCapacityOptions {
  /**
   * The program and its arguments, e.g. `['kubectl', 'scale', 'deployment/web', '--replicas={replicas}']`.
   * Placeholders: `{replicas}`, and `{previous}` (empty until a count is known).
   */
  readonly command: readonly string[];
  /** Longest one run may take (ms); past it the command is sent SIGTERM, then SIGKILL. Default 30000. */
  readonly timeoutMs?: number;
  /** Variables added to the environment of the command (`undefined` removes one). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Working directory of the command. Default the process's. */
  readonly cwd?: string;
  /** Name in records and errors. Default `"command:<program>"`. */
  readonly name?: string;
  /** Time source for the timeout. Default the system monotonic clock. */
  readonly clock?: Clock;
}

export interface CommandActuator extends Actuator {
  capacity(signal?: AbortSignal): Promise<Capacity>;
  scale(replicas: number, signal?: AbortSignal): Promise<void>;
  /** Waits for a running command to end. */
  close(): Promise<void>;
}

const placeholders = new Set(['replicas', 'previous']);
const stderrLimit = 4096;
/** Time a command gets between SIGTERM and SIGKILL once it is abandoned. */
const killGraceMs = 2000;

interface Exit {
  readonly code?: number | null;
  readonly signal?: NodeJS.Signals | null;
  readonly error?: Error;
}

class CommandScaleActuator implements CommandActuator {
  readonly name: string;
  readonly #command: readonly string[];
  readonly #timeoutMs: number;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #cwd: string | undefined;
  readonly #clock: Clock;
  readonly #reported: ReportedCapacity;
  /** Settles when the last command started has exited: runs never overlap. */
  #tail: Promise<void> = Promise.resolve();

  constructor(options: CommandActuatorOptions) {
    const command = options.command as unknown;
    if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
      throw new ConfigError(
        'command',
        command,
        'a non-empty array of strings (the program, then its arguments)',
      );
    }
    if (command[0] === '')
      throw new ConfigError('command', command, 'an array whose first item names a program');
    for (const arg of command as string[]) {
      for (const [, key] of arg.matchAll(/\{(\w+)\}/g)) {
        if (!placeholders.has(key!)) {
          throw new ConfigError(
            'command',
            command,
            `placeholders among {replicas} and {previous}; found {${key}}`,
          );
        }
      }
    }
    this.#command = Object.freeze([...(command as string[])]);
    this.#timeoutMs = positive('timeoutMs', or(options.timeoutMs, 30_000));
    this.#env = options.env ?? {};
    this.#cwd = options.cwd;
    this.#clock = options.clock ?? systemClock;
    this.name = or(options.name, `command:${basename(this.#command[0]!)}`);
    this.#reported = new ReportedCapacity(this.name, options);
  }

  async capacity(signal: AbortSignal = new AbortController().signal): Promise<Capacity> {
    return (await this.#reported.read(signal)) ?? this.#reported.last();
  }

  async scale(replicas: number, signal?: AbortSignal): Promise<void> {
    integer('replicas', replicas, 0);
    const run = this.#tail.then(() => this.#run(replicas, signal));
    this.#tail = run.then(
      (r) => r.exited,
      () => undefined,
    );
    await (await run).done;
    this.#reported.applied(replicas);
  }

  close(): Promise<void> {
    return this.#tail;
  }

  /** Starts one run; `done` is the caller's answer, `exited` settles (never rejects) once the child is gone. */
  #run(replicas: number, signal: AbortSignal | undefined): { done: Promise<void>; exited: Promise<void> } {
    const gone = Promise.resolve();
    if (signal?.aborted) return { done: Promise.reject(signal.reason), exited: gone };
    const previous = this.#reported.desired === undefined ? '' : String(this.#reported.desired);
    const argv = this.#command.map((a) =>
      a.replace(/\{(\w+)\}/g, (_, key: string) => (key === 'replicas' ? String(replicas) : previous)),
    );
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          ...process.env,
          SLUICE_REPLICAS: String(replicas),
          SLUICE_PREVIOUS_REPLICAS: previous,
          ...this.#env,
        },
        ...(this.#cwd === undefined ? {} : { cwd: this.#cwd }),
        windowsHide: true,
      });
    } catch (error) {
      return { done: Promise.reject(this.#cannotRun(argv, error)), exited: gone };
    }
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-stderrLimit);
    });
    const exited = new Promise<Exit>((resolve) => {
      child.once('error', (error) => resolve({ error }));
      child.once('close', (code, sig) => resolve({ code, signal: sig }));
    });
    const timeout = () =>
      new ActuatorTimeoutError(this.name, 'scale', `command ${quote(argv)}`, this.#timeoutMs);
    const done = withTimeout(this.#clock, this.#timeoutMs, signal, timeout, async (linked) => {
      linked.addEventListener('abort', () => this.#kill(child, exited), { once: true });
      const exit = await exited;
      if (exit.error !== undefined) throw this.#cannotRun(argv, exit.error);
      if (exit.code !== 0) {
        throw new CommandError(this.name, 'scale', argv, exit.code ?? null, exit.signal ?? null, stderr);
      }
    });
    return { done, exited: exited.then(() => undefined) };
  }

  /** SIGTERM now, SIGKILL if it is still there after a grace period. */
  #kill(child: ChildProcess, exited: Promise<Exit>): void {
    child.kill('SIGTERM');
    const timer = this.#clock.setTimer(() => child.kill('SIGKILL'), killGraceMs, { ref: false });
    void exited.then(() => timer.cancel());
  }

  #cannotRun(argv: readonly string[], error: unknown): ActuatorError {
    const detail = error instanceof Error ? error.message : String(error);
    return new ActuatorError(this.name, 'scale', `cannot run ${quote(argv)}: ${detail}`, error);
  }
}

/**
 * An actuator that runs a command to scale.
 *
 * ```ts
 * const actuator = commandActuator({
 *   command: ['kubectl', 'scale', 'deployment/web', '--replicas={replicas}'],
 *   replicas: 3, // running now
 * });
 * await actuator.scale(5); // runs: kubectl scale deployment/web --replicas=5
 * ```
 */
export function commandActuator(options: CommandActuatorOptions): CommandActuator {
  return new CommandScaleActuator(options);
}
