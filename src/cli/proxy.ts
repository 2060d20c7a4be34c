import { type FSWatcher, watch } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Timer } from '../core/clock.ts';
import { isConfigError } from '../core/errors.ts';
import { dashboardTarget, startDashboard, takeDashboardFlag } from '../dashboard/cli.ts';
import type { Dashboard } from '../dashboard/types.ts';
import { isProxyConfigError, loadProxyConfig, type ProxyOptions, parseListen } from '../proxy/config.ts';
import { createProxy, type ReverseProxy } from '../proxy/proxy.ts';
import type { RouteSpec } from '../proxy/routes.ts';
import type { Command } from './command.ts';
import { fromParseArgs, UsageError } from './errors.ts';
import type { CliIo } from './io.ts';
import { parseDuration } from './simulate.ts';

const help = `Usage: sluice proxy --upstream <url> [options]
       sluice proxy --config <file> [options]

An adaptive reverse proxy in front of any HTTP service (a sidecar): requests are admitted through an
adaptive concurrency limit with a priority queue, and shed with 503 and Retry-After when the service
is saturated. Bodies are streamed; connections to the upstream are pooled and kept alive.

Options:
  --upstream <url>          the service behind the proxy, e.g. http://127.0.0.1:3000
  --listen <[host:]port>    where to listen; default 127.0.0.1:8080
  --config <file>           a YAML or JSON config file (the options below override it)
  --limit <n|adaptive>      a fixed concurrency limit, or adaptive (default)
  --queue-size <n>          most requests waiting for the limit; 0 sheds at once (default 100)
  --queue-timeout <time>    longest wait in the queue: 1s, 250ms (default 1s)
  --upstream-timeout <time> longest wait for the upstream's response headers (default 30s)
  --drain-timeout <time>    on SIGTERM/SIGINT, longest wait for requests in flight (default 10s)
  --connections <n>         most keep-alive connections to the upstream (default 128)
  --route <spec>            a priority class, "[METHODS ]PATH=PRIORITY", repeatable, tried in
                            order before the file's routes: "/health=critical", "POST /api/**=high"
  --watch                   reload the config file when it changes (SIGHUP always reloads it)
  --dashboard [<port>]      serve a live dashboard on 127.0.0.1 (default a free port); with
                            host:port, a host other than loopback needs SLUICE_DASHBOARD_TOKEN
  -h, --help                show this help

Routes: a PATH without * is a prefix on segment boundaries (/api matches /api/users, not /apix);
with *, a glob where * stays within a segment and ** crosses segments. Priorities: critical, high,
normal, low, sheddable (or the file's own priorities). Unmatched requests are normal.

Signals: SIGTERM or SIGINT drain in-flight requests and exit; SIGHUP reloads the config file (routes,
priorities of routes, timeouts, upstream) without dropping connections or the learned limit.

Exit status: 0 after a graceful shutdown, 1 if the config is invalid or the port cannot be bound,
2 on a usage error.
`;

const options = {
  upstream: { type: 'string' },
  listen: { type: 'string' },
  config: { type: 'string' },
  limit: { type: 'string' },
  'queue-size': { type: 'string' },
  'queue-timeout': { type: 'string' },
  'upstream-timeout': { type: 'string' },
  'drain-timeout': { type: 'string' },
  connections: { type: 'string' },
  route: { type: 'string', multiple: true },
  watch: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `sluice proxy`: runs the adaptive reverse proxy until SIGTERM, SIGINT or the CLI's abort signal. */
export const proxyCommand: Command = {
  name: 'proxy',
  summary: 'Run an adaptive reverse proxy (a sidecar) in front of an HTTP service',
  help,
  run: runProxy,
};

type Values = ReturnType<typeof parse>['values'];

function parse(args: readonly string[]) {
  return parseArgs({ args: [...args], options, allowPositionals: false, strict: true });
}

async function runProxy(args: readonly string[], io: CliIo): Promise<number> {
  let values: Values;
  const flag = takeDashboardFlag(args);
  try {
    values = parse(flag.args).values;
  } catch (error) {
    throw fromParseArgs(error) ?? error;
  }
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  if (values.config === undefined && values.upstream === undefined) {
    throw new UsageError('missing --upstream <url> (or a --config file that names the upstream)');
  }
  if (values.watch && values.config === undefined) throw new UsageError('--watch needs --config <file>');
  const flags = flagOptions(values);
  const board = flag.dashboard === undefined ? undefined : dashboardTarget(flag.dashboard, io.env);
  const configPath = values.config === undefined ? undefined : resolve(io.cwd, values.config);
  const load = async (): Promise<ProxyOptions> => {
    const file = configPath === undefined ? {} : await loadProxyConfig(configPath, values.config);
    return merge(file, flags);
  };

  let proxy: ReverseProxy;
  try {
    proxy = createProxy(await load());
  } catch (error) {
    if (isProxyConfigError(error) || isConfigError(error)) {
      io.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const address = await proxy.start().catch((error: unknown) => {
    io.stderr.write(`sluice proxy: cannot listen: ${(error as Error).message}\n`);
    return undefined;
  });
  if (address === undefined) {
    await proxy.close();
    return 1;
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  io.stderr.write(
    `sluice proxy: listening on http://${host}:${address.port}, upstream ${proxy.settings.upstream.origin}\n`,
  );
  let dashboard: Dashboard | undefined;
  if (board !== undefined) {
    try {
      dashboard = await startDashboard(board, io, 'sluice proxy');
    } catch (error) {
      await proxy.close();
      io.stderr.write(`sluice proxy: cannot serve the dashboard: ${(error as Error).message}\n`);
      return 1;
    }
    const { priorities } = proxy.settings;
    dashboard.track(proxy.limiter, Array.isArray(priorities) ? { priorities } : {});
  }

  const reload = async (why: string): Promise<void> => {
    try {
      const restart = proxy.reload(await load());
      const note = restart.length > 0 ? `; restart to apply ${restart.join(', ')}` : '';
      io.stderr.write(`sluice proxy: reloaded the config (${why})${note}\n`);
    } catch (error) {
      if (!isProxyConfigError(error) && !isConfigError(error)) throw error;
      io.stderr.write(`${error.message}\nsluice proxy: kept the previous config\n`);
    }
  };
  const onHup = (): void => void reload('SIGHUP');
  process.on('SIGHUP', onHup);
  let watcher: FSWatcher | undefined;
  let debounce: Timer | undefined;
  if (values.watch && configPath !== undefined) {
    // Editors write a file in several steps: reload once the writes settle.
    watcher = watch(configPath, () => {
      debounce?.cancel();
      debounce = io.clock.setTimer(() => void reload('file changed'), 100);
    });
  }

  const onTerm = (): void => stopWith('SIGTERM');
  const onInt = (): void => stopWith('SIGINT');
  const onAbort = (): void => stopWith('interrupt');
  let stopWith: (why: string) => void = () => {};
  const stop = await new Promise<string>((done) => {
    stopWith = done;
    process.once('SIGTERM', onTerm);
    // The executable turns SIGINT into the abort signal; without one, SIGINT is ours.
    if (io.signal === undefined) process.once('SIGINT', onInt);
    io.signal?.addEventListener('abort', onAbort, { once: true });
    if (io.signal?.aborted === true) done('interrupt');
  });
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  io.signal?.removeEventListener('abort', onAbort);
  process.off('SIGHUP', onHup);
  watcher?.close();
  debounce?.cancel();
  io.stderr.write(`sluice proxy: ${stop}: draining ${proxy.active} request(s)\n`);
  const { drained } = await proxy.close();
  await dashboard?.close();
  io.stderr.write(
    drained ? 'sluice proxy: stopped\n' : 'sluice proxy: stopped; requests past the drain timeout were cut\n',
  );
  return 0;
}

/** The options given on the command line (they override the config file's). */
function flagOptions(values: Values): ProxyOptions {
  const o: Record<string, unknown> = {};
  if (values.upstream !== undefined) o['upstream'] = values.upstream;
  if (values.listen !== undefined) {
    try {
      Object.assign(o, parseListen(/^\d+$/.test(values.listen) ? Number(values.listen) : values.listen));
    } catch {
      throw new UsageError(`--listen must be a port or host:port, got "${values.listen}"`);
    }
  }
  if (values.limit !== undefined) {
    if (values.limit === 'adaptive') o['limit'] = 'adaptive';
    else if (/^\d+$/.test(values.limit) && Number(values.limit) >= 1) o['limit'] = Number(values.limit);
    else throw new UsageError(`--limit must be an integer >= 1 or adaptive, got "${values.limit}"`);
  }
  const queue: Record<string, number> = {};
  if (values['queue-size'] !== undefined) queue['size'] = count('--queue-size', values['queue-size'], 0);
  if (values['queue-timeout'] !== undefined)
    queue['timeout'] = time('--queue-timeout', values['queue-timeout']);
  if (Object.keys(queue).length > 0) o['queue'] = queue;
  if (values['upstream-timeout'] !== undefined)
    o['upstreamTimeout'] = time('--upstream-timeout', values['upstream-timeout']);
  if (values['drain-timeout'] !== undefined)
    o['drainTimeout'] = time('--drain-timeout', values['drain-timeout']);
  if (values.connections !== undefined) o['connections'] = count('--connections', values.connections, 1);
  if (values.route !== undefined) o['routes'] = values.route.map(routeFlag);
  return o as ProxyOptions;
}

/** The file's options overridden by the flags; flag routes go before the file's. */
function merge(file: ProxyOptions, flags: ProxyOptions): ProxyOptions {
  const merged: Record<string, unknown> = { ...file, ...flags };
  if (flags.routes !== undefined) merged['routes'] = [...flags.routes, ...(file.routes ?? [])];
  if (flags.queue !== undefined && typeof file.queue === 'object')
    merged['queue'] = { ...file.queue, ...flags.queue };
  return merged as ProxyOptions;
}

/** `"POST,PUT /api/**=high"` as a route. */
export function routeFlag(text: string): RouteSpec {
  const m = /^\s*(?:([A-Za-z,]+)\s+)?(\/\S*)\s*=\s*(\S+)\s*$/.exec(text);
  if (m === null) {
    throw new UsageError(
      `--route must be "[METHODS ]PATH=PRIORITY" such as "POST /api/**=high", got "${text}"`,
    );
  }
  const priority = /^\d+$/.test(m[3]!) ? Number(m[3]) : m[3]!;
  return m[1] === undefined
    ? { path: m[2]!, priority }
    : { path: m[2]!, methods: m[1].split(',').filter((x) => x !== ''), priority };
}

function count(flag: string, text: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min) {
    throw new UsageError(`${flag} must be an integer >= ${min}, got "${text}"`);
  }
  return Number(text);
}

function time(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new UsageError(`${flag} must be a time > 0 such as 2s or 500ms, got "${text}"`);
  }
}
