import { runCli } from '../../src/cli/cli.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { systemClock } from '../../src/core/clock.ts';

/**
 * Runs the CLI in-process on the system clock (a long-running command: `stop()` aborts it); `waitFor`
 * resolves once standard error has printed a match.
 */
export function startCli(args: readonly string[], cwd: string, env: Record<string, string> = {}) {
  const controller = new AbortController();
  let err = '';
  const waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      const m = w.pattern.exec(err);
      if (m !== null) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  const io: CliIo = {
    stdout: { write: () => true },
    stderr: {
      write: (s: string) => {
        err += s;
        check();
        return true;
      },
    },
    clock: systemClock,
    cwd,
    env,
    signal: controller.signal,
  };
  const exit = runCli(args, io);
  return {
    exit,
    stop: () => controller.abort(),
    stderr: () => err,
    waitFor: (pattern: RegExp) =>
      new Promise<RegExpExecArray>((resolve) => {
        waiters.push({ pattern, resolve });
        check();
      }),
  };
}
