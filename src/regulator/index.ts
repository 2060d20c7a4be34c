export {
  createRegulator,
  type RateChange,
  type RateRule,
  type Regulator,
  type RegulatorEvents,
  type RegulatorOptions,
  type RegulatorQueueOptions,
  type RegulatorSnapshot,
  type TakeOptions,
} from './regulator.ts';
