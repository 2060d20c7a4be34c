/** The kinds of component the metrics and the decision log know. */
export type ComponentKind =
  | 'autoscaler'
  | 'server'
  | 'limiter'
  | 'breaker'
  | 'throttle'
  | 'regulator'
  | 'pool'
  | 'batcher'
  | 'retry'
  | 'degrader'
  | 'pressure';

type Shape = Record<string, unknown>;

function has(x: Shape, ...methods: string[]): boolean {
  return methods.every((m) => typeof x[m] === 'function');
}

/**
 * Tells a component's kind by its public methods, each kind by one that no other kind has (checked in
 * this order: a server protection holds a limiter, a degrader a pressure meter). Undefined for anything else.
 */
export function kindOf(source: unknown): ComponentKind | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const x = source as Shape;
  if (has(x, 'tick', 'start', 'stop') && 'decisions' in x) return 'autoscaler';
  if (has(x, 'handle', 'snapshot') && typeof x.limiter === 'object') return 'server';
  if (has(x, 'tryAcquire', 'acquire', 'snapshot', 'on')) return 'limiter';
  if (has(x, 'tryPass', 'isolate', 'snapshot', 'on')) return 'breaker';
  if (has(x, 'tryPass', 'probability', 'snapshot', 'on')) return 'throttle';
  if (has(x, 'tryTake', 'setRate', 'snapshot', 'on')) return 'regulator';
  if (has(x, 'submit', 'resize', 'snapshot', 'on')) return 'pool';
  if (has(x, 'add', 'setSize', 'snapshot', 'on')) return 'batcher';
  if (has(x, 'execute', 'on') && typeof x.attempts === 'number') return 'retry';
  if (typeof x.meter === 'object' && x.meter !== null && kindOf(x.meter) === 'pressure') return 'degrader';
  if (has(x, 'update', 'reset', 'on') && typeof x.score === 'number' && typeof x.level === 'string')
    return 'pressure';
  return undefined;
}
