import type { AutoscaleDecision } from './controller.ts';
import { describeSplit } from './cost.ts';
import { signed } from './format.ts';
import type { Clamp } from './types.ts';

/** `max 12→10, scaleUp.rate 10→8`. */
export function clampList(clamps: readonly Clamp[]): string {
  return clamps.map((c) => `${c.guard} ${c.from}→${c.to}`).join(', ');
}

/**
 * The decision in one line: the result first, then the rule with its reason, the clamps, what failed, the
 * cost and the shadow candidate, e.g.
 * `#12 scale 4→6: target:latency wants 9 (p99 412 ms over 200 ms: 4 x 2.06 = 9); clamped scaleUp.rate 9→6`.
 */
export function summarize(d: Omit<AutoscaleDecision, 'summary'>, reason: string | undefined): string {
  const from = d.capacity.desired;
  const parts: string[] = [];
  const tag = d.mode === 'live' ? '' : ` [${d.mode}]`;
  const verb = d.mode === 'dry-run' ? 'would scale' : 'scale';
  let head: string;
  if (d.rollback !== undefined) {
    head = `#${d.seq}${tag} rollback ${from}→${d.replicas}: ${d.rollback.cause}`;
  } else if (d.proposals.length === 0 && d.rule === 'hold') {
    const why = d.failures.some((f) => f.collector.startsWith('capacity:'))
      ? 'capacity unknown'
      : 'no policy had an opinion';
    head = d.changed
      ? `#${d.seq}${tag} ${verb} ${from}→${d.replicas}: ${why}`
      : `#${d.seq}${tag} hold at ${from}: ${why}`;
  } else {
    const wants = `${d.rule} wants ${d.proposed}${reason === undefined ? '' : ` (${reason})`}`;
    head = d.changed
      ? `#${d.seq}${tag} ${verb} ${from}→${d.replicas}: ${wants}`
      : `#${d.seq}${tag} hold at ${from}: ${wants}`;
  }
  parts.push(head);
  if (d.clamps.length > 0) parts.push(`clamped ${clampList(d.clamps)}`);
  if (d.failures.length > 0) {
    parts.push(
      `${d.failures.length} failed: ${d.failures.map((f) => `${f.collector} (${f.message})`).join(', ')}`,
    );
  }
  if (d.cost !== undefined) parts.push(describeSplit(d.cost));
  if (d.shadow !== undefined) {
    parts.push(
      d.shadow.difference === 0
        ? `shadow agrees (${d.shadow.rule})`
        : `shadow wants ${d.shadow.replicas} (${signed(d.shadow.difference)}, ${d.shadow.rule})`,
    );
  }
  return parts.join('; ');
}

/**
 * A bounded ring of the most recent items, oldest first. Memory is `capacity` slots whatever the number
 * of pushes.
 */
export class Ring<T> {
  readonly #items: (T | undefined)[];
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#items = new Array<T | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    const capacity = this.#items.length;
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % capacity;
    if (this.#size < capacity) this.#size++;
  }

  /** The newest item, or `undefined` when empty. */
  last(): T | undefined {
    if (this.#size === 0) return undefined;
    const capacity = this.#items.length;
    return this.#items[(this.#next - 1 + capacity) % capacity];
  }

  /** A copy, oldest first. */
  toArray(): T[] {
    const capacity = this.#items.length;
    const out: T[] = [];
    for (let i = 0; i < this.#size; i++) {
      out.push(this.#items[(this.#next - this.#size + i + capacity) % capacity] as T);
    }
    return out;
  }
}
