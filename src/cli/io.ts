import { type Clock, systemClock } from '../core/clock.ts';

/** Where a command writes: a stream with, for terminals, `isTTY` and `columns`. */
export interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
}

/**
 * Everything a command touches outside its arguments, so that tests can run commands in-process with
 * captured output and a virtual clock. Files are read and written relative to `cwd`.
 */
export interface CliIo {
  readonly stdout: Output;
  readonly stderr: Output;
  /** Real time, for the progress bar (never for the simulation, which runs on virtual time). */
  readonly clock: Clock;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborts a command in progress (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** The process's own streams, clock, directory and environment. */
export function processIo(signal?: AbortSignal): CliIo {
  const io = {
    stdout: process.stdout,
    stderr: process.stderr,
    clock: systemClock,
    cwd: process.cwd(),
    env: process.env,
  };
  return signal === undefined ? io : { ...io, signal };
}
