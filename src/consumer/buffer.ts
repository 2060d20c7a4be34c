/** What the buffer orders by. */
export interface Ranked {
  readonly priority: number;
  /** Arrival order: lower arrived first. */
  readonly seq: number;
}

/**
 * The messages a consumer received and has not started, ordered for service: highest priority first, and
 * first come, first served within a priority. The least important (then newest) is the first to give back.
 *
 * A sorted array: the buffer holds at most a consumer's window (a limit plus a little), and insertion by
 * binary search with one move is cheaper at that size than a heap with its bookkeeping, and keeps both ends
 * at hand.
 */
export class PriorityBuffer<T extends Ranked> {
  /** Ascending service order reversed: the next to serve is last, the first to give back is first. */
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    const items = this.#items;
    // Items before the insertion point are all given back before `item` (see `before`).
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(items[mid]!, item)) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, item);
  }

  /** The next to serve, left in place. */
  peek(): T | undefined {
    return this.#items.at(-1);
  }

  /** Removes and returns the next to serve. */
  shift(): T | undefined {
    return this.#items.pop();
  }

  /** Removes and returns the least important, newest item: the first to give back. */
  evict(): T | undefined {
    return this.#items.shift();
  }

  /** Removes and returns the items for which `predicate` holds, in service order. */
  removeWhere(predicate: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (const item of this.#items) (predicate(item) ? removed : kept).push(item);
    if (removed.length > 0) this.#items.splice(0, this.#items.length, ...kept);
    return removed.reverse();
  }

  /** Removes and returns everything, in service order. */
  drain(): T[] {
    return this.#items.splice(0).reverse();
  }

  /** Every item, in no particular order. */
  values(): readonly T[] {
    return this.#items;
  }
}

/** True when `a` is given back before `b`, i.e. served after it: lower priority, or same and newer. */
function before(a: Ranked, b: Ranked): boolean {
  return a.priority < b.priority || (a.priority === b.priority && a.seq > b.seq);
}
