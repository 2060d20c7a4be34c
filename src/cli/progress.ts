import type { Clock } from '../core/clock.ts';
import type { Output } from './io.ts';

export interface ProgressOptions {
  /** Real time before the bar first appears (ms): shorter runs never show it. Default 1000. */
  readonly delay?: number;
  /** Least real time between redraws (ms). Default 100. */
  readonly interval?: number;
}

/**
 * A one-line progress bar on a terminal: `label [██████░░░░] 60%`, redrawn in place with a carriage
 * return. It stays hidden for the first `delay` ms, so that quick runs print nothing, and `done()`
 * erases it. The caller decides whether a bar is wanted at all (a terminal, not `--quiet`).
 */
export class ProgressBar {
  readonly #out: Output;
  readonly #clock: Clock;
  readonly #showAt: number;
  readonly #interval: number;
  #drawnAt = Number.NEGATIVE_INFINITY;
  #shown = false;

  constructor(out: Output, clock: Clock, options: ProgressOptions = {}) {
    this.#out = out;
    this.#clock = clock;
    this.#showAt = clock.now() + (options.delay ?? 1000);
    this.#interval = options.interval ?? 100;
  }

  /** Reports `fraction` (0 to 1) done; `label` says of what. Draws when due. */
  update(fraction: number, label: string): void {
    const now = this.#clock.now();
    if (now < this.#showAt || now - this.#drawnAt < this.#interval) return;
    this.#drawnAt = now;
    this.#shown = true;
    const columns = Math.max(40, (this.#out.columns || 80) - 1);
    const percent = `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`.padStart(4);
    const room = columns - percent.length - 4;
    const barWidth = Math.max(10, Math.min(30, room - label.length - 1));
    const text =
      label.length > room - barWidth - 1 ? `${label.slice(0, Math.max(0, room - barWidth - 2))}…` : label;
    const filled = Math.round(Math.min(1, Math.max(0, fraction)) * barWidth);
    const bar = '█'.repeat(filled) + '░'.repeat(barWidth - filled);
    this.#out.write(`\r${text} [${bar}] ${percent}\x1b[K`);
  }

  /** Erases the bar, if it was ever drawn. */
  done(): void {
    if (this.#shown) this.#out.write('\r\x1b[K');
    this.#shown = false;
  }
}
