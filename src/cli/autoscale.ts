import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isConfigError } from '../core/errors.ts';
import { dashboardTarget, startDashboard, takeDashboardFlag } from '../dashboard/cli.ts';
import type { Dashboard } from '../dashboard/types.ts';
import type { Tracking } from '../metrics/core.ts';
import {
  type AutoscaleConfig,
  autoscalerFromConfig,
  type ConfiguredAutoscaler,
  isAutoscaleConfigError,
  isMissingPackageError,
  loadAutoscaleConfig,
} from '../scale/config/index.ts';
import type { AutoscaleDecision, AutoscalerEvents } from '../scale/controller.ts';
import { duration } from '../scale/format.ts';
import type { ScaleMode } from '../scale/types.ts';
import type { Command } from './command.ts';
import { fromParseArgs, UsageError } from './errors.ts';
import type { CliIo } from './io.ts';

const help = `Usage: sluice autoscale <config> [options]

Runs an autoscaler from a YAML (or JSON) config file: every interval it reads the collectors (a
Prometheus endpoint, PromQL queries, RabbitMQ, NATS JetStream, Redis Streams, a SQL query), asks the
policies for a replica count, bounds it with the guards, and applies it through the actuator (a
Kubernetes Deployment or StatefulSet, a command, a webhook, local processes). Each decision is printed
as one line on standard output; problems go to standard error. See examples/autoscale.yaml.

Options:
  --dry-run     decide and print, change nothing (overrides the file's mode)
  --once        run one tick, print its decision and exit (cron jobs, checks)
  --json        print each decision as its full record, one JSON object per line
  --check       validate the config file and exit, connecting to nothing
  --dashboard   serve a live dashboard: --dashboard [<port> | <host:port>], default 127.0.0.1
                on a free port; a host other than loopback needs SLUICE_DASHBOARD_TOKEN
  -h, --help    show this help

Signals: SIGTERM or SIGINT let the tick in flight finish (acting included), close the actuator and
the collectors' connections, and exit. SIGHUP reloads the config file: an invalid one is reported and
the running autoscaler kept. A reload restarts the controller, so its stabilization windows,
cooldowns, rate-limit periods, smoothing and warm-up start afresh (as when the Kubernetes HPA's
controller restarts); the actuator and the collectors whose config did not change are kept, with
their connections, their state and, for a process actuator, its children.

Exit status: 0 after a clean stop, or after a --once tick where nothing failed; 1 if the config is
invalid, a client library it needs is not installed, or (with --once) a collector, a policy or the
actuator failed on the tick; 2 on a usage error.
`;

const options = {
  'dry-run': { type: 'boolean' },
  once: { type: 'boolean' },
  json: { type: 'boolean' },
  check: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `sluice autoscale`: runs an autoscaler from a config file until SIGTERM, SIGINT or the CLI's abort signal. */
export const autoscaleCommand: Command = {
  name: 'autoscale',
  summary: 'Run an autoscaler from a config file: collectors, policies, guards, an actuator',
  help,
  run: runAutoscale,
};

const prefix = 'sluice autoscale';

async function runAutoscale(args: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  const flag = takeDashboardFlag(args);
  try {
    parsed = parse(flag.args);
  } catch (error) {
    throw fromParseArgs(error) ?? error;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  if (positionals.length === 0)
    throw new UsageError('missing <config>: a YAML or JSON autoscaler config file');
  if (positionals.length > 1) {
    throw new UsageError(`one config file at a time, got ${positionals.length}: ${positionals.join(' ')}`);
  }
  if (values.check && values.once) throw new UsageError('--check and --once do not go together');
  if (flag.dashboard !== undefined && (values.check || values.once))
    throw new UsageError('--dashboard goes with a running autoscaler, not with --check or --once');
  const board = flag.dashboard === undefined ? undefined : dashboardTarget(flag.dashboard, io.env);
  const name = positionals[0]!;
  const path = resolve(io.cwd, name);
  const mode: ScaleMode | undefined = values['dry-run'] ? 'dry-run' : undefined;
  const load = (): Promise<AutoscaleConfig> => loadAutoscaleConfig(path, { name });
  const build = (config: AutoscaleConfig, previous?: ConfiguredAutoscaler) =>
    autoscalerFromConfig(config, {
      clock: io.clock,
      ...(mode === undefined ? {} : { mode }),
      ...(previous === undefined ? {} : { previous }),
    });

  let built: ConfiguredAutoscaler;
  try {
    const config = await load();
    if (values.check) {
      io.stdout.write(`${name}: ok (${describeConfig(config)})\n`);
      return 0;
    }
    built = await build(config);
  } catch (error) {
    if (!isReported(error)) throw error;
    io.stderr.write(explain(error));
    return 1;
  }

  const print = new Printer(io, values.json === true);
  if (values.once) {
    const watching = print.watch(built);
    let decision: AutoscaleDecision | undefined;
    try {
      decision = await built.autoscaler.tick();
    } finally {
      await closeQuietly(built, io);
      watching.off();
    }
    return decision !== undefined && watching.failures() === 0 ? 0 : 1;
  }

  let current = built;
  let watching = print.watch(current);
  let dashboard: Dashboard | undefined;
  let shown: Tracking | undefined;
  if (board !== undefined) {
    try {
      dashboard = await startDashboard(board, io, prefix);
    } catch (error) {
      watching.off();
      await closeQuietly(current, io);
      io.stderr.write(`${prefix}: cannot serve the dashboard: ${(error as Error).message}\n`);
      return 1;
    }
    shown = dashboard.track(current.autoscaler);
  }
  let stopping = false;
  // Reloads run one at a time, and a stop waits for one in progress.
  let reloads: Promise<void> = Promise.resolve();
  const reload = async (why: string): Promise<void> => {
    if (stopping) return;
    let next: ConfiguredAutoscaler;
    try {
      next = await build(await load(), current);
    } catch (error) {
      io.stderr.write(`${isReported(error) ? explain(error) : `${String(error)}\n`}`);
      io.stderr.write(`${prefix}: kept the running autoscaler\n`);
      return;
    }
    // The old controller finishes its tick (its decision is still printed), then gives way.
    await current.autoscaler.stop();
    watching.off();
    await closeQuietly(current, io);
    current = next;
    watching = print.watch(current);
    shown?.stop();
    shown = dashboard?.track(current.autoscaler);
    if (stopping) return; // the stop that came meanwhile closes the new one
    current.autoscaler.start();
    const kept = [
      ...(next.reused.actuator ? [`actuator ${next.options.actuator.name}`] : []),
      ...(next.reused.collectors.length > 0 ? [`collectors ${next.reused.collectors.join(', ')}`] : []),
    ];
    io.stderr.write(
      `${prefix}: reloaded the config (${why}); the controller restarted` +
        `${kept.length > 0 ? `; kept ${kept.join('; ')}` : ''}\n`,
    );
  };
  const onHup = (): void => {
    reloads = reloads.then(() => reload('SIGHUP'));
  };
  process.on('SIGHUP', onHup);

  current.autoscaler.start();
  io.stderr.write(`${prefix}: ${describeRunning(current)}\n`);

  const onTerm = (): void => stopWith('SIGTERM');
  const onInt = (): void => stopWith('SIGINT');
  const onAbort = (): void => stopWith('interrupt');
  let stopWith: (why: string) => void = () => {};
  const why = await new Promise<string>((done) => {
    stopWith = done;
    process.once('SIGTERM', onTerm);
    // The executable turns SIGINT into the abort signal; without one, SIGINT is ours.
    if (io.signal === undefined) process.once('SIGINT', onInt);
    io.signal?.addEventListener('abort', onAbort, { once: true });
    if (io.signal?.aborted === true) done('interrupt');
  });
  stopping = true;
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  io.signal?.removeEventListener('abort', onAbort);
  process.off('SIGHUP', onHup);
  io.stderr.write(`${prefix}: ${why}: stopping after the tick in flight\n`);
  await reloads;
  await current.autoscaler.stop();
  watching.off();
  await closeQuietly(current, io);
  await dashboard?.close();
  io.stderr.write(`${prefix}: stopped\n`);
  return 0;
}

function parse(args: readonly string[]) {
  return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
}

/** Errors a user can fix, reported as a message rather than a stack trace. */
function isReported(error: unknown): error is Error {
  return isAutoscaleConfigError(error) || isMissingPackageError(error) || isConfigError(error);
}

function explain(error: Error): string {
  const excerpt = isAutoscaleConfigError(error) ? error.excerpt : null;
  return `${error.message}\n${excerpt === null ? '' : `${excerpt}\n`}`;
}

/** Closes `built`, reporting instead of throwing: a client that fails to close must not stop the exit. */
async function closeQuietly(built: ConfiguredAutoscaler, io: CliIo): Promise<void> {
  try {
    await built.close();
  } catch (error) {
    io.stderr.write(`${prefix}: while closing: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

/** Prints every decision of the autoscalers it watches, and what failed outside the decisions. */
class Printer {
  readonly #io: CliIo;
  readonly #json: boolean;

  constructor(io: CliIo, json: boolean) {
    this.#io = io;
    this.#json = json;
  }

  watch(built: ConfiguredAutoscaler): { off(): void; failures(): number } {
    let failures = 0;
    const a = built.autoscaler;
    const offs = [
      a.on('decision', (d) => {
        this.#io.stdout.write(this.#json ? `${JSON.stringify(d)}\n` : `${d.summary}\n`);
      }),
      a.on('error', (e) => {
        failures++;
        // Collector, capacity and policy failures are in the decision; these are not.
        if (e.stage === 'scale' || e.stage === 'tick')
          this.#io.stderr.write(`${prefix}: ${describeError(e)}\n`);
      }),
    ];
    return {
      off: () => {
        for (const off of offs) off();
      },
      failures: () => failures,
    };
  }
}

function describeError(e: AutoscalerEvents['error']): string {
  const message = e.message.replace(/^sluice: /, '');
  return e.stage === 'scale'
    ? `#${e.seq} the actuator did not take the count: ${message}`
    : `#${e.seq} the tick failed: ${message}`;
}

function describeRunning(built: ConfiguredAutoscaler): string {
  const { autoscaler, options } = built;
  const collectors = options.collectors.map((c) => c.name).join(', ') || 'none';
  const policies = options.policies.map((p) => p.name).join(', ');
  return (
    `running "${autoscaler.name}" every ${duration(options.interval ?? 15_000)}, mode ${autoscaler.mode}; ` +
    `collectors: ${collectors}; policies: ${policies}; actuator: ${options.actuator.name}`
  );
}

function describeConfig(config: AutoscaleConfig): string {
  const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  return (
    `${count(config.collectors.length, 'collector', 'collectors')}, ` +
    `${count(config.policies.length, 'policy', 'policies')}, actuator ${config.actuator.type}`
  );
}
