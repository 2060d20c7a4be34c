// sluice/scale: the autoscaler. Collectors gather readings, the controller analyses them into signals,
// policies propose replica counts, guards bound them, actuators apply them; every decision is a record.

export type {
  Actuator,
  Capacity,
  Clamp,
  Collector,
  Decision,
  PolicyInput,
  Proposal,
  Readings,
  ScaleMode,
  ScalingPolicy,
  Signal,
} from './types.ts';
