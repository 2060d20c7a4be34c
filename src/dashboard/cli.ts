import { UsageError } from '../cli/errors.ts';
import type { CliIo } from '../cli/io.ts';
import { createDashboard } from './dashboard.ts';
import { isLoopback } from './serve.ts';
import type { Dashboard, DashboardListenOptions } from './types.ts';

/** The environment variable a command's `--dashboard` takes its token from. */
export const TOKEN_VARIABLE = 'SLUICE_DASHBOARD_TOKEN';

/** A `--dashboard` value: a port, or `host:port` (`[::1]:9400` for IPv6). */
const VALUE = /^(?:(?:\[[^\]]+\]|[^\s:[\]]+):)?\d+$/;

/**
 * Takes `--dashboard [[host:]port]` (or `--dashboard=[host:]port`) out of `args`: its value is optional,
 * which `parseArgs` cannot express. The word after `--dashboard` is its value only when it reads as a
 * port or `host:port`. `dashboard` is undefined without the flag, `''` for the flag alone.
 */
export function takeDashboardFlag(args: readonly string[]): {
  args: string[];
  dashboard: string | undefined;
} {
  const rest: string[] = [];
  let dashboard: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (arg.startsWith('--dashboard=')) dashboard = arg.slice('--dashboard='.length);
    else if (arg === '--dashboard') {
      const next = args[i + 1];
      if (next !== undefined && VALUE.test(next)) {
        dashboard = next;
        i++;
      } else dashboard = '';
    } else rest.push(arg);
  }
  return { args: rest, dashboard };
}

/** Where `--dashboard`'s value (see `takeDashboardFlag`) says to listen; a `UsageError` for a bad one. */
export function dashboardTarget(spec: string, env: CliIo['env']): DashboardListenOptions {
  if (spec !== '' && !VALUE.test(spec))
    throw new UsageError(`--dashboard must be a port or host:port, got "${spec}"`);
  const colon = spec.lastIndexOf(':');
  const host = colon < 0 ? '127.0.0.1' : spec.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = spec === '' ? 0 : Number(spec.slice(colon + 1));
  if (port > 65535) throw new UsageError(`--dashboard port must be at most 65535, got ${port}`);
  const token = env[TOKEN_VARIABLE] || undefined;
  if (token === undefined && !isLoopback(host)) {
    throw new UsageError(
      `--dashboard on ${host} needs a token: set ${TOKEN_VARIABLE} (16 characters or more), or bind 127.0.0.1`,
    );
  }
  return { host, port, ...(token === undefined ? {} : { token }) };
}

/** Starts a command's dashboard, sampling on the command's clock, and prints its URL on standard error. */
export async function startDashboard(
  target: DashboardListenOptions,
  io: CliIo,
  title: string,
): Promise<Dashboard> {
  const dashboard = createDashboard({ clock: io.clock, title });
  try {
    const address = await dashboard.listen(target);
    io.stderr.write(`${title}: dashboard on ${address.url}\n`);
    return dashboard;
  } catch (error) {
    await dashboard.close();
    throw error;
  }
}
