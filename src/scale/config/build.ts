import type { Clock } from '../../core/clock.ts';
import { isPlainObject } from '../../core/spec.ts';
import type { Autoscaler, AutoscalerLogger, AutoscalerOptions } from '../controller.ts';
import type { Actuator, Collector, ScaleMode } from '../types.ts';
import { actuatorOf, kubernetesOf } from './actuators.ts';
import { connect, kubeConfigOf, nothing } from './clients.ts';
import { collectorOf } from './collectors.ts';
import { controllerOptions } from './controller.ts';
import { defined } from './fields.ts';
import type { ActuatorConfig, AutoscaleConfig, CollectorConfig } from './types.ts';

/** Building the autoscaler a config describes, and handing its parts over to the next on a reload. */

export interface AutoscalerFromConfigOptions {
  /** Time source of the controller, the collectors and the actuator. Default the system monotonic clock. */
  readonly clock?: Clock;
  /** Overrides the config's `mode`, e.g. `"dry-run"` from the command line. */
  readonly mode?: ScaleMode;
  /** Gets every decision as a structured record (see `AutoscalerOptions.logger`). */
  readonly logger?: AutoscalerLogger;
  /**
   * An autoscaler built from an earlier version of the config (a reload): its actuator and collectors
   * whose config has not changed are taken over instead of made anew, so a process actuator keeps its
   * children, a command or webhook actuator its last count, a Prometheus collector its rates and a
   * service collector its connection. Its controller is not: close `previous` once this resolves (it
   * stops the old controller and closes what was not taken over), then start the new one.
   */
  readonly previous?: ConfiguredAutoscaler;
}

/** An autoscaler built from a config, with the parts it owns. */
export interface ConfiguredAutoscaler {
  /** The controller, not started: call `start()`, or drive it with `tick()`. */
  readonly autoscaler: Autoscaler;
  /** The options it was made with. */
  readonly options: AutoscalerOptions;
  /** What was taken over from `previous`: whether the actuator was, and the names of the collectors that were. */
  readonly reused: { readonly actuator: boolean; readonly collectors: readonly string[] };
  /**
   * Stops the controller (a tick in flight finishes, acting included), then closes the actuator (a process
   * actuator stops its children; a command actuator waits for a running command) and the collectors'
   * connections, except those a later autoscaler took over. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Builds the autoscaler a config describes (as `parseAutoscaleConfig` returns it): loads the client
 * libraries its collectors and actuator need (throwing a `MissingPackageError` naming a missing one), makes
 * the collectors (connecting on their first collect), the policies and the actuator, and creates the
 * controller, not started.
 *
 * ```ts
 * const built = await autoscalerFromConfig(await loadAutoscaleConfig('autoscale.yaml'));
 * built.autoscaler.on('decision', (d) => console.log(d.summary));
 * built.autoscaler.start();
 * process.once('SIGTERM', () => void built.close());
 * ```
 */
export function autoscalerFromConfig(
  config: AutoscaleConfig,
  options: AutoscalerFromConfigOptions = {},
): Promise<ConfiguredAutoscaler> {
  return Built.make(config, options);
}

/** A collector or the actuator, with what releases it. */
interface Part {
  /** Its config, canonical: a later config with the same key reuses it. */
  readonly key: string;
  readonly value: Collector | Actuator;
  close(): Promise<void>;
}

class Built implements ConfiguredAutoscaler {
  readonly autoscaler: Autoscaler;
  readonly options: AutoscalerOptions;
  readonly reused: ConfiguredAutoscaler['reused'];
  #parts: Part[];
  #closing: Promise<void> | undefined;

  private constructor(
    made: { options: AutoscalerOptions; autoscaler: Autoscaler },
    parts: Part[],
    reused: ConfiguredAutoscaler['reused'],
  ) {
    this.autoscaler = made.autoscaler;
    this.options = made.options;
    this.#parts = parts;
    this.reused = reused;
  }

  static async make(config: AutoscaleConfig, options: AutoscalerFromConfigOptions): Promise<Built> {
    const previous = options.previous instanceof Built ? options.previous : undefined;
    const clock = options.clock;
    const deadline = config.collectTimeout ?? Math.min((config.interval ?? 15_000) / 2, 10_000);
    const made: Part[] = [];
    const taken: Part[] = [];
    const offered = previous === undefined ? [] : previous.#parts;
    const take = (key: string): Part | undefined => {
      const part = offered.find((p) => p.key === key && !taken.includes(p));
      if (part !== undefined) taken.push(part);
      return part;
    };
    try {
      const collectors: Collector[] = [];
      const reusedCollectors: string[] = [];
      for (const [i, spec] of config.collectors.entries()) {
        const key = `collector ${canonical(spec)}`;
        const old = take(key);
        if (old !== undefined) {
          collectors.push(old.value as Collector);
          reusedCollectors.push(old.value.name);
          continue;
        }
        const part = await collectorPart(spec, `collectors[${i}]`, key, clock, deadline);
        made.push(part);
        collectors.push(part.value as Collector);
      }
      const actuatorKey = `actuator ${canonical(config.actuator)}`;
      let actuator = take(actuatorKey);
      const reusedActuator = actuator !== undefined;
      if (actuator === undefined) {
        actuator = await actuatorPart(config.actuator, actuatorKey, clock);
        made.push(actuator);
      }
      const controller = controllerOptions(config, {
        collectors,
        actuator: actuator.value as Actuator,
        clock,
        mode: options.mode,
        logger: options.logger,
      });
      // Only now do the parts taken over change hands: a build that fails leaves `previous` whole.
      if (previous !== undefined) previous.#parts = previous.#parts.filter((p) => !taken.includes(p));
      return new Built(controller, [...taken, ...made], {
        actuator: reusedActuator,
        collectors: reusedCollectors,
      });
    } catch (error) {
      await Promise.allSettled(made.map((p) => p.close()));
      throw error;
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.autoscaler.stop();
      const parts = this.#parts;
      this.#parts = [];
      const results = await Promise.allSettled(parts.map((p) => p.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    })();
    return this.#closing;
  }
}

/** The collector `spec` describes, over the client of its service (made here, connecting on first use). */
async function collectorPart(
  spec: CollectorConfig,
  path: string,
  key: string,
  clock: Clock | undefined,
  deadline: number,
): Promise<Part> {
  const { clients, close } = await connect(spec, path, deadline);
  try {
    return { key, value: collectorOf(spec, path, clock, clients), close };
  } catch (error) {
    void close();
    throw error;
  }
}

async function actuatorPart(spec: ActuatorConfig, key: string, clock: Clock | undefined): Promise<Part> {
  if (spec.type !== 'kubernetes') {
    const actuator = actuatorOf(spec, clock);
    return { key, value: actuator, close: async () => actuator.close?.() };
  }
  const kubeConfig = await kubeConfigOf(spec);
  return { key, value: kubernetesOf(spec, defined({ kubeConfig, clock })), close: nothing };
}

/** JSON with the keys of every object sorted, so equal configs give equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    isPlainObject(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
