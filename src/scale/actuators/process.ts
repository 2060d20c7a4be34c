import { type ChildProcess, fork, type StdioOptions, spawn } from 'node:child_process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Clock, systemClock, type Timer } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { Events, type Listener } from '../../core/events.ts';
import { integer, nonNegative, oneOf, or, ordered, positive } from '../../core/validate.ts';
import type { Actuator, Capacity } from '../types.ts';
import { ActuatorError } from './errors.ts';

/**
 * Keeps N local child processes: a Node.js module started with `fork`, or any program started with
 * `spawn` (no shell). Scaling up starts new children; scaling down stops the newest first (they have taken
 * the least work) with `stopSignal`, then SIGKILL after `stopTimeoutMs`: draining in-flight work on the
 * signal is the child's job. A child that exits without being asked is counted as a crash and replaced;
 * crashes in quick succession (each child lived less than `stableMs`) back off exponentially before the
 * next replacement, so a child that cannot start does not spin the machine.
 *
 * Each child gets `SLUICE_REPLICA` in its environment: the lowest slot number (0, 1, 2, ...) that no other
 * child holds, kept until it exits, so children can derive distinct ports or file names from it.
 */

export type ReadyWhen =
  /** Ready as soon as the process has started. */
  | 'spawn'
  /**
   * Ready when the child sends the IPC message `'ready'` or `{ type: 'ready' }` (`process.send('ready')`
   * once it listens). Spawned programs get an IPC channel too, so a Node.js script started by `command`
   * can use it.
   */
  | 'message';

export interface RestartBackoffOptions {
  /** Delay before replacing the second of several quick crashes (ms); it doubles with each next. Default 1000. */
  readonly initialMs?: number;
  /** Longest delay between replacements (ms). Default 30000. */
  readonly maxMs?: number;
}

export interface ProcessActuatorOptions {
  /** A program to `spawn` (a path, or a name looked up on PATH). Give this or `modulePath`. */
  readonly command?: string;
  /** A Node.js module to `fork` (a path or a `file:` URL). Give this or `command`. */
  readonly modulePath?: string | URL;
  /** Arguments for the program or module. Default none. */
  readonly args?: readonly string[];
  /** Variables added to each child's environment (`undefined` removes one). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Working directory of the children. Default the process's. */
  readonly cwd?: string;
  /** Node.js options for forked modules. Default the parent's `process.execArgv`. */
  readonly execArgv?: readonly string[];
  /** Where the children's stdout and stderr go. Default `"inherit"`. */
  readonly stdio?: 'inherit' | 'ignore';
  /** When a new child counts as ready. Default `"spawn"`. */
  readonly readyWhen?: ReadyWhen;
  /**
   * Longest a child may take to become ready (ms); past it the child is stopped and counted as a crash.
   * Default 30000.
   */
  readonly readyTimeoutMs?: number;
  /** Signal that asks a child to stop. Default `"SIGTERM"`. */
  readonly stopSignal?: NodeJS.Signals;
  /** Time a child gets after `stopSignal` before SIGKILL (ms). Default 10000. */
  readonly stopTimeoutMs?: number;
  /** A child that ran at least this long before crashing is replaced at once (ms). Default 10000. */
  readonly stableMs?: number;
  /** Delays between replacements in a crash loop. */
  readonly restartBackoff?: RestartBackoffOptions;
  /** Children to start at once. Default 0. */
  readonly replicas?: number;
  /** Name in records, events and errors. Default `"process:<program or module file>"`. */
  readonly name?: string;
  /** Time source for the timeouts and the back-off. Default the system monotonic clock. */
  readonly clock?: Clock;
}

export type ProcessState = 'starting' | 'ready' | 'stopping';

export interface ProcessInfo {
  readonly pid: number | undefined;
  /** The `SLUICE_REPLICA` slot. */
  readonly slot: number;
  readonly state: ProcessState;
  /** Clock time the child was started (ms). */
  readonly startedAt: number;
}

export interface ProcessActuatorSnapshot {
  /** Children asked for. */
  readonly desired: number;
  readonly starting: number;
  readonly ready: number;
  /** Children asked to stop that have not exited yet. */
  readonly stopping: number;
  /** Children that exited without being asked to, or did not become ready in time, since the start. */
  readonly crashes: number;
  /** Quick crashes in a row (0 once a child outlives `stableMs` or no crash happened). */
  readonly crashStreak: number;
  /** Time left before the next replacement may start (ms), 0 when not backing off. */
  readonly backoffMs: number;
  /** Live children, oldest first. */
  readonly processes: readonly ProcessInfo[];
}

interface Base {
  readonly actuator: string;
  /** Clock time (ms). */
  readonly at: number;
  readonly pid: number | undefined;
  readonly slot: number;
}

export interface ProcessActuatorEvents {
  /** A child was started (on `sluice:process:start`). */
  readonly start: Base;
  /** A child became ready (on `sluice:process:ready`). */
  readonly ready: Base & { readonly startupMs: number };
  /** A child exited (on `sluice:process:exit`); `crashed` unless it was asked to stop. */
  readonly exit: Base & {
    readonly code: number | null;
    readonly signal: NodeJS.Signals | null;
    readonly uptimeMs: number;
    readonly crashed: boolean;
    /** Why it ended: asked to stop, crashed, failed to start, or not ready in time. */
    readonly cause: 'stopped' | 'crashed' | 'spawn-failed' | 'ready-timeout';
    /** The error that kept it from starting, for `"spawn-failed"`. */
    readonly error?: Error;
  };
  /** Replacements wait `delayMs` after a quick crash (on `sluice:process:backoff`). */
  readonly backoff: {
    readonly actuator: string;
    readonly at: number;
    readonly delayMs: number;
    readonly streak: number;
  };
}

export interface ProcessActuator extends Actuator {
  capacity(signal?: AbortSignal): Capacity;
  /** Sets the number of children; starts or stops the difference. Throws once closed. */
  scale(replicas: number, signal?: AbortSignal): void;
  /** Stops every child (stop signal, then SIGKILL) and resolves once all have exited. */
  close(): Promise<void>;
  snapshot(): ProcessActuatorSnapshot;
  /** Typed events (also on diagnostics_channel `sluice:process:<event>`). */
  on<K extends keyof ProcessActuatorEvents & string>(
    name: K,
    listener: Listener<ProcessActuatorEvents[K]>,
  ): () => void;
}

interface Replica {
  /** Undefined when launching threw; the replica then ends as a failed spawn. */
  readonly child: ChildProcess | undefined;
  readonly slot: number;
  readonly startedAt: number;
  state: ProcessState;
  /** Set when the actuator ended it for not becoming ready; its exit is then not a second crash. */
  failed: boolean;
  readyTimer: Timer | undefined;
  killTimer: Timer | undefined;
  readonly exited: Promise<void>;
}

type Launch = (slot: number) => ChildProcess;

class ChildProcessActuator implements ProcessActuator {
  readonly name: string;
  readonly #events: Events<ProcessActuatorEvents> = new Events('process');
  readonly #clock: Clock;
  readonly #launch: Launch;
  readonly #readyWhen: ReadyWhen;
  readonly #readyTimeoutMs: number;
  readonly #stopSignal: NodeJS.Signals;
  readonly #stopTimeoutMs: number;
  readonly #stableMs: number;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  /** Live children in the order they were started (newest last). */
  readonly #replicas: Replica[] = [];
  #desired = 0;
  #crashes = 0;
  #streak = 0;
  #backoff: Timer | undefined = undefined;
  #backoffUntil = 0;
  #closed = false;

  constructor(options: ProcessActuatorOptions) {
    const hasCommand = options.command !== undefined;
    const hasModule = options.modulePath !== undefined;
    if (hasCommand === hasModule) {
      throw new ConfigError(
        hasCommand ? 'modulePath' : 'command',
        hasCommand ? options.modulePath : undefined,
        hasCommand ? 'absent when "command" is given (give one of them)' : 'a program, or give "modulePath"',
      );
    }
    const args = strings('args', options.args ?? []);
    const env = options.env ?? {};
    const stdio = oneOf('stdio', or(options.stdio, 'inherit'), ['inherit', 'ignore'] as const);
    const streams: StdioOptions = ['ignore', stdio, stdio, 'ipc'];
    this.#readyWhen = oneOf('readyWhen', or(options.readyWhen, 'spawn'), ['spawn', 'message'] as const);
    this.#readyTimeoutMs = positive('readyTimeoutMs', or(options.readyTimeoutMs, 30_000));
    this.#stopSignal = signalName('stopSignal', or(options.stopSignal, 'SIGTERM'));
    this.#stopTimeoutMs = nonNegative('stopTimeoutMs', or(options.stopTimeoutMs, 10_000));
    this.#stableMs = nonNegative('stableMs', or(options.stableMs, 10_000));
    this.#backoffInitialMs = nonNegative(
      'restartBackoff.initialMs',
      or(options.restartBackoff?.initialMs, 1000),
    );
    this.#backoffMaxMs = nonNegative('restartBackoff.maxMs', or(options.restartBackoff?.maxMs, 30_000));
    ordered('restartBackoff.initialMs', this.#backoffInitialMs, 'restartBackoff.maxMs', this.#backoffMaxMs);
    this.#clock = options.clock ?? systemClock;
    const environment = (slot: number) => ({ ...process.env, ...env, SLUICE_REPLICA: String(slot) });
    const cwd = options.cwd === undefined ? {} : { cwd: options.cwd };
    if (hasCommand) {
      const command = options.command;
      if (typeof command !== 'string' || command === '') {
        throw new ConfigError('command', command, 'a program path or name (its arguments go in "args")');
      }
      this.name = or(options.name, `process:${basename(command)}`);
      this.#launch = (slot) =>
        spawn(command, args, { stdio: streams, env: environment(slot), ...cwd, windowsHide: true });
    } else {
      const path = modulePath(options.modulePath);
      const execArgv = strings('execArgv', options.execArgv ?? process.execArgv);
      this.name = or(options.name, `process:${basename(path)}`);
      this.#launch = (slot) => fork(path, args, { stdio: streams, env: environment(slot), execArgv, ...cwd });
    }
    const initial = integer('replicas', or(options.replicas, 0), 0);
    if (initial > 0) this.scale(initial);
  }

  capacity(): Capacity {
    let ready = 0;
    for (const r of this.#replicas) if (r.state === 'ready') ready++;
    return { desired: this.#desired, ready };
  }

  scale(replicas: number): void {
    integer('replicas', replicas, 0);
    if (this.#closed) {
      throw new ActuatorError(this.name, 'scale', 'closed; make a new actuator to scale again');
    }
    this.#desired = replicas;
    this.#reconcile();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#desired = 0;
    this.#backoff?.cancel();
    this.#backoff = undefined;
    this.#reconcile();
    await Promise.all(this.#replicas.map((r) => r.exited));
  }

  snapshot(): ProcessActuatorSnapshot {
    const count = { starting: 0, ready: 0, stopping: 0 };
    for (const r of this.#replicas) count[r.state]++;
    return {
      desired: this.#desired,
      ...count,
      crashes: this.#crashes,
      crashStreak: this.#streak,
      backoffMs: this.#backoff === undefined ? 0 : Math.max(0, this.#backoffUntil - this.#clock.now()),
      processes: this.#replicas.map((r) => ({
        pid: r.child?.pid,
        slot: r.slot,
        state: r.state,
        startedAt: r.startedAt,
      })),
    };
  }

  on<K extends keyof ProcessActuatorEvents & string>(
    name: K,
    listener: Listener<ProcessActuatorEvents[K]>,
  ): () => void {
    return this.#events.on(name, listener);
  }

  /** Starts or stops children until the live ones (not stopping) match the count asked for. */
  #reconcile(): void {
    let live = 0;
    for (const r of this.#replicas) if (r.state !== 'stopping') live++;
    // Newest first: a child still starting serves nobody, and the youngest ready one holds the least work.
    for (let i = this.#replicas.length - 1; i >= 0 && live > this.#desired; i--) {
      const r = this.#replicas[i]!;
      if (r.state === 'stopping') continue;
      this.#stop(r);
      live--;
    }
    if (this.#backoff !== undefined) return;
    while (live < this.#desired) {
      this.#start();
      live++;
    }
  }

  #start(): void {
    const slot = this.#freeSlot();
    const startedAt = this.#clock.now();
    let child: ChildProcess | undefined;
    let launchError: Error | undefined;
    try {
      child = this.#launch(slot);
    } catch (error) {
      launchError = error instanceof Error ? error : new Error(String(error));
    }
    let resolveExit!: () => void;
    const replica: Replica = {
      child,
      slot,
      startedAt,
      state: 'starting',
      failed: false,
      readyTimer: undefined,
      killTimer: undefined,
      exited: new Promise((resolve) => {
        resolveExit = resolve;
      }),
    };
    this.#replicas.push(replica);
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null, error?: Error): void => {
      if (ended) return;
      ended = true;
      this.#onExit(replica, code, signal, error);
      resolveExit();
    };
    if (child === undefined) {
      // A synchronous failure ends like a failed spawn: after this call, never inside it.
      queueMicrotask(() => end(null, null, launchError));
    } else {
      child.once('exit', (code, signal) => end(code, signal));
      // Kept for the child's life: an 'error' without a listener would throw. A spawn failure (ENOENT,
      // EACCES) emits 'error' and never 'exit'; later errors (a failed kill or send) change nothing.
      child.on('error', (error) => {
        if (child.pid === undefined) end(null, null, error);
      });
      child.once('spawn', () => {
        if (this.#readyWhen === 'spawn') this.#ready(replica);
      });
      if (this.#readyWhen === 'message') {
        const onMessage = (message: unknown) => {
          if (!isReadyMessage(message)) return;
          child.off('message', onMessage);
          this.#ready(replica);
        };
        child.on('message', onMessage);
        replica.readyTimer = this.#clock.setTimer(() => this.#readyTimeout(replica), this.#readyTimeoutMs);
      }
    }
    if (this.#events.wants('start')) {
      this.#events.emit('start', { actuator: this.name, at: startedAt, pid: child?.pid, slot });
    }
  }

  #ready(replica: Replica): void {
    if (replica.state !== 'starting') return;
    replica.state = 'ready';
    replica.readyTimer?.cancel();
    replica.readyTimer = undefined;
    if (this.#events.wants('ready')) {
      const at = this.#clock.now();
      const pid = replica.child?.pid;
      this.#events.emit('ready', {
        actuator: this.name,
        at,
        pid,
        slot: replica.slot,
        startupMs: at - replica.startedAt,
      });
    }
  }

  #readyTimeout(replica: Replica): void {
    replica.readyTimer = undefined;
    if (replica.state !== 'starting') return;
    replica.failed = true;
    this.#crashed(this.#clock.now() - replica.startedAt);
    this.#stop(replica);
    this.#reconcile();
  }

  #stop(replica: Replica): void {
    replica.state = 'stopping';
    replica.readyTimer?.cancel();
    replica.readyTimer = undefined;
    const child = replica.child;
    if (child?.pid === undefined) return;
    child.kill(this.#stopSignal);
    replica.killTimer = this.#clock.setTimer(() => {
      replica.killTimer = undefined;
      child.kill('SIGKILL');
    }, this.#stopTimeoutMs);
  }

  #onExit(
    replica: Replica,
    code: number | null,
    signal: NodeJS.Signals | null,
    error: Error | undefined,
  ): void {
    replica.readyTimer?.cancel();
    replica.killTimer?.cancel();
    this.#replicas.splice(this.#replicas.indexOf(replica), 1);
    const at = this.#clock.now();
    const uptimeMs = at - replica.startedAt;
    const asked = replica.state === 'stopping';
    const cause = replica.failed
      ? 'ready-timeout'
      : asked
        ? 'stopped'
        : error !== undefined
          ? 'spawn-failed'
          : 'crashed';
    if (this.#events.wants('exit')) {
      this.#events.emit('exit', {
        actuator: this.name,
        at,
        pid: replica.child?.pid,
        slot: replica.slot,
        code,
        signal,
        uptimeMs,
        crashed: cause !== 'stopped',
        cause,
        ...(error === undefined ? {} : { error }),
      });
    }
    if (asked) return;
    this.#crashed(uptimeMs);
    this.#reconcile();
  }

  /** Counts a crash; a quick one extends the streak and, from the second on, delays replacements. */
  #crashed(uptimeMs: number): void {
    this.#crashes++;
    this.#streak = uptimeMs >= this.#stableMs ? 1 : this.#streak + 1;
    if (this.#streak < 2 || this.#closed) return;
    const delayMs = Math.min(this.#backoffMaxMs, this.#backoffInitialMs * 2 ** (this.#streak - 2));
    if (delayMs <= 0) return;
    const at = this.#clock.now();
    // A later crash within the back-off pushes the next start out; it never pulls it in.
    if (this.#backoff !== undefined && this.#backoffUntil >= at + delayMs) return;
    this.#backoff?.cancel();
    this.#backoffUntil = at + delayMs;
    this.#backoff = this.#clock.setTimer(() => {
      this.#backoff = undefined;
      this.#reconcile();
    }, delayMs);
    if (this.#events.wants('backoff')) {
      this.#events.emit('backoff', { actuator: this.name, at, delayMs, streak: this.#streak });
    }
  }

  #freeSlot(): number {
    const used = new Set(this.#replicas.map((r) => r.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    return slot;
  }
}

function isReadyMessage(message: unknown): boolean {
  return (
    message === 'ready' ||
    (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'ready')
  );
}

function strings(option: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((a) => typeof a === 'string')) {
    throw new ConfigError(option, value, 'an array of strings');
  }
  return [...value];
}

function modulePath(value: unknown): string {
  if (value instanceof URL) {
    if (value.protocol === 'file:') return fileURLToPath(value);
  } else if (typeof value === 'string' && value !== '') {
    if (value.startsWith('file:')) return fileURLToPath(value);
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  }
  throw new ConfigError('modulePath', value, 'a path or a file: URL of a Node.js module');
}

function signalName(option: string, value: unknown): NodeJS.Signals {
  if (typeof value !== 'string' || !/^SIG[A-Z0-9]+$/.test(value)) {
    throw new ConfigError(option, value, 'a signal name such as "SIGTERM" or "SIGINT"');
  }
  return value as NodeJS.Signals;
}

/**
 * An actuator that keeps N local child processes.
 *
 * ```ts
 * const workers = processActuator({
 *   modulePath: new URL('./worker.js', import.meta.url),
 *   readyWhen: 'message', // the worker calls process.send('ready') once it listens
 *   stopTimeoutMs: 30_000, // time to drain after SIGTERM
 * });
 * workers.scale(4);
 * workers.capacity(); // { desired: 4, ready: 0 }, then ready: 4 as they report in
 * await workers.close();
 * ```
 */
export function processActuator(options: ProcessActuatorOptions): ProcessActuator {
  return new ChildProcessActuator(options);
}
