export { AimdLimit, type AimdOptions, aimd } from './aimd.ts';
export { FixedLimit, fixedLimit } from './fixed.ts';
export { Gradient2Limit, type Gradient2Options, gradient2 } from './gradient2.ts';
export { BaseLimit, type Limit, type LimitBounds, type LimitChange, type LimitSample } from './limit.ts';
export type { ProbeOptions } from './probe.ts';
export type { AdaptiveBounds } from './shared.ts';
export { VegasLimit, type VegasOptions, vegas } from './vegas.ts';
export { WindowedLimit, type WindowedOptions, windowed } from './windowed.ts';
