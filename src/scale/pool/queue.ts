/** A queued item: intrusive links, so removal (on abort or timeout) is O(1) and leaves nothing behind. */
export interface QueueNode {
  readonly priority: number;
  readonly enqueuedAt: number;
  prev: this | undefined;
  next: this | undefined;
  /** The level holding the node while queued; `undefined` once out of the queue. */
  level: Level<this> | undefined;
}

/** One priority's FIFO list. */
export interface Level<T> {
  readonly priority: number;
  head: T | undefined;
  tail: T | undefined;
}

/**
 * Tasks waiting for a worker: one FIFO list per priority, lowest priority value served first. Only the
 * non-empty levels are kept (sorted), so `shift` and `oldest` scan just the priorities in use.
 */
export class TaskQueue<T extends QueueNode> {
  readonly #levels: Level<T>[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(node: T): void {
    const level = this.#level(node.priority);
    node.level = level;
    node.prev = level.tail;
    node.next = undefined;
    if (level.tail === undefined) level.head = node;
    else level.tail.next = node;
    level.tail = node;
    this.#size++;
  }

  /** Removes and returns the first node of the most urgent level. */
  shift(): T | undefined {
    const level = this.#levels[0];
    const node = level?.head;
    if (node !== undefined) this.remove(node);
    return node;
  }

  /** Takes `node` out of the queue; false if it was not in it. */
  remove(node: T): boolean {
    const level = node.level;
    if (level === undefined) return false;
    if (node.prev === undefined) level.head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) level.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = undefined;
    node.next = undefined;
    node.level = undefined;
    this.#size--;
    if (level.head === undefined) this.#levels.splice(this.#levels.indexOf(level), 1);
    return true;
  }

  /** The longest-waiting node across priorities (each level's head is its oldest). */
  oldest(): T | undefined {
    let oldest: T | undefined;
    for (const level of this.#levels) {
      const head = level.head!;
      if (oldest === undefined || head.enqueuedAt < oldest.enqueuedAt) oldest = head;
    }
    return oldest;
  }

  /** Empties the queue, returning its nodes in service order. */
  drain(): T[] {
    const nodes: T[] = [];
    for (let node = this.shift(); node !== undefined; node = this.shift()) nodes.push(node);
    return nodes;
  }

  #level(priority: number): Level<T> {
    const levels = this.#levels;
    let lo = 0;
    let hi = levels.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (levels[mid]!.priority < priority) lo = mid + 1;
      else hi = mid;
    }
    const found = levels[lo];
    if (found !== undefined && found.priority === priority) return found;
    const level: Level<T> = { priority, head: undefined, tail: undefined };
    levels.splice(lo, 0, level);
    return level;
  }
}
