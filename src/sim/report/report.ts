import type { Scenario } from '../run.ts';
import type { PolicyRun } from '../scenarios/compare.ts';

/** What the reports (terminal, JSON, HTML) are made from: one scenario and its runs, one per policy. */
export interface SimReport {
  /** Short title, usually the scenario's name. */
  readonly title: string;
  /** A sentence or a paragraph on what happens in the scenario. */
  readonly description?: string | undefined;
  /** Where the scenario came from: a file path, or `builtin:<name>`. */
  readonly source?: string | undefined;
  /** The scenario as run (its `policy` is replaced by each run's). */
  readonly scenario: Scenario;
  /** The runs, in the order to show them. */
  readonly runs: readonly PolicyRun[];
}
