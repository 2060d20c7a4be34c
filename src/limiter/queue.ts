import type { HeapItem } from './expiry-heap.ts';

/**
 * The waiting structures of a limiter, by partition, then priority level, then fairness key. Each level
 * serves its keys round-robin so one noisy tenant cannot take every slot of its priority; within a key,
 * waiters are served oldest-first (FIFO) or newest-first (LIFO) as the limiter asks. Every waiter also sits
 * in one age-ordered list across all queues, which gives the oldest waiter in O(1).
 *
 * All operations are O(1) except `topLevel`, which scans the (few) priority levels.
 */
export class Waiter implements HeapItem {
  // Key queue links.
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  // Age list links.
  older: Waiter | undefined = undefined;
  newer: Waiter | undefined = undefined;
  // Links in the list of waiters on the default timeout (their expiry order is their arrival order).
  earlier: Waiter | undefined = undefined;
  later: Waiter | undefined = undefined;
  /** True while in that list; otherwise the waiter has its own expiry and sits in the expiry heap. */
  uniform = false;
  expiresAt: number;
  heapIndex = -1;
  /** True when `expiresAt` comes from the caller's deadline rather than the queue timeout. */
  byDeadline: boolean;
  /** Settles the caller's promise: with a permit (acquire), or with the work's result (run). */
  resolve!: (value: never) => void;
  reject!: (error: unknown) => void;
  /** The work of a queued `run()`, started when the waiter is admitted. */
  task: ((context: never) => unknown) | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  readonly keyQueue: KeyQueue;
  readonly enqueuedAt: number;
  readonly weight: number;
  readonly priority: number;
  readonly signal: AbortSignal | undefined;

  constructor(
    keyQueue: KeyQueue,
    enqueuedAt: number,
    expiresAt: number,
    byDeadline: boolean,
    weight: number,
    priority: number,
    signal: AbortSignal | undefined,
  ) {
    this.keyQueue = keyQueue;
    this.enqueuedAt = enqueuedAt;
    this.expiresAt = expiresAt;
    this.byDeadline = byDeadline;
    this.weight = weight;
    this.priority = priority;
    this.signal = signal;
  }
}

export class KeyQueue {
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;
  size = 0;
  ringPrev: KeyQueue | undefined = undefined;
  ringNext: KeyQueue | undefined = undefined;
  readonly level: LevelQueue;
  readonly key: string | undefined;

  constructor(level: LevelQueue, key: string | undefined) {
    this.level = level;
    this.key = key;
  }
}

export class LevelQueue {
  size = 0;
  /** Next key queue to serve; the ring holds exactly the non-empty key queues. */
  cursor: KeyQueue | undefined = undefined;
  readonly index: number;
  readonly partition: Partition;
  readonly #unkeyed: KeyQueue;
  #keyed: Map<string, KeyQueue> | undefined = undefined;

  constructor(partition: Partition, index: number) {
    this.partition = partition;
    this.index = index;
    this.#unkeyed = new KeyQueue(this, undefined);
  }

  keyQueue(key: string | undefined): KeyQueue {
    if (key === undefined) return this.#unkeyed;
    this.#keyed ??= new Map();
    let q = this.#keyed.get(key);
    if (q === undefined) {
      q = new KeyQueue(this, key);
      this.#keyed.set(key, q);
    }
    return q;
  }

  /** Forgets an emptied keyed queue, so memory follows the keys now waiting, not every key ever seen. */
  forget(q: KeyQueue): void {
    if (q.key !== undefined && q.size === 0) this.#keyed?.delete(q.key);
  }

  /** The waiter this level would serve next: the cursor key's oldest (FIFO) or newest (LIFO). */
  peek(lifo: boolean): Waiter | undefined {
    const q = this.cursor;
    if (q === undefined) return undefined;
    return lifo ? q.tail : q.head;
  }
}

/** A partition of the limit: its guaranteed share, its cap, what it holds, and its waiters. */
export class Partition {
  /** Waiters queued in this partition. */
  size = 0;
  /** Weighted permits this partition holds. */
  inflight = 0;
  readonly name: string;
  /** Guaranteed fraction of the limit. */
  readonly share: number;
  /** Most it may hold (borrowing unused capacity), as a fraction of the limit. */
  readonly maxShare: number;
  readonly levels: LevelQueue[];

  constructor(name: string, share: number, maxShare: number, levels: number) {
    this.name = name;
    this.share = share;
    this.maxShare = maxShare;
    this.levels = Array.from({ length: levels }, (_, i) => new LevelQueue(this, i));
  }

  /** The most important level with waiters, or undefined. */
  topLevel(): LevelQueue | undefined {
    if (this.size === 0) return undefined;
    for (const level of this.levels) if (level.size > 0) return level;
    return undefined;
  }

  /** The least important level with waiters, or undefined. */
  bottomLevel(): LevelQueue | undefined {
    if (this.size === 0) return undefined;
    for (let i = this.levels.length - 1; i >= 0; i--) if (this.levels[i]!.size > 0) return this.levels[i];
    return undefined;
  }
}

/** The age-ordered list of every waiter, plus insertion and removal across all the structures above. */
export class WaitList {
  size = 0;
  oldest: Waiter | undefined = undefined;
  newest: Waiter | undefined = undefined;

  add(w: Waiter): void {
    const q = w.keyQueue;
    // Key queue: append at the tail.
    w.prev = q.tail;
    if (q.tail === undefined) q.head = w;
    else q.tail.next = w;
    q.tail = w;
    if (q.size++ === 0) ringInsert(q);
    const level = q.level;
    level.size++;
    level.partition.size++;
    // Age list: append as newest.
    w.older = this.newest;
    if (this.newest === undefined) this.oldest = w;
    else this.newest.newer = w;
    this.newest = w;
    this.size++;
  }

  /** Unlinks `w` from every list. When `served`, the round-robin cursor moves past its key. */
  remove(w: Waiter, served: boolean): void {
    const q = w.keyQueue;
    if (w.prev === undefined) q.head = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) q.tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = w.next = undefined;
    const level = q.level;
    if (--q.size === 0) {
      ringRemove(q);
      level.forget(q);
    } else if (served && level.cursor === q) {
      level.cursor = q.ringNext;
    }
    level.size--;
    level.partition.size--;

    if (w.older === undefined) this.oldest = w.newer;
    else w.older.newer = w.newer;
    if (w.newer === undefined) this.newest = w.older;
    else w.newer.older = w.older;
    w.older = w.newer = undefined;
    this.size--;
  }
}

function ringInsert(q: KeyQueue): void {
  const level = q.level;
  const cursor = level.cursor;
  if (cursor === undefined) {
    q.ringPrev = q.ringNext = q;
    level.cursor = q;
    return;
  }
  // Join just before the cursor: served last in the current round.
  const prev = cursor.ringPrev!;
  q.ringPrev = prev;
  q.ringNext = cursor;
  prev.ringNext = q;
  cursor.ringPrev = q;
}

function ringRemove(q: KeyQueue): void {
  const level = q.level;
  if (q.ringNext === q) {
    level.cursor = undefined;
  } else {
    q.ringPrev!.ringNext = q.ringNext;
    q.ringNext!.ringPrev = q.ringPrev;
    if (level.cursor === q) level.cursor = q.ringNext;
  }
  q.ringPrev = q.ringNext = undefined;
}

/**
 * Waiters on the queue's default timeout, in arrival order. Their expiry times are in the same order, so the
 * first one is the next to expire: O(1) where a heap would pay O(log n) for every waiter that is served.
 */
export class UniformExpiry {
  first: Waiter | undefined = undefined;
  last: Waiter | undefined = undefined;

  add(w: Waiter): void {
    w.uniform = true;
    w.earlier = this.last;
    if (this.last === undefined) this.first = w;
    else this.last.later = w;
    this.last = w;
  }

  remove(w: Waiter): void {
    if (!w.uniform) return;
    w.uniform = false;
    if (w.earlier === undefined) this.first = w.later;
    else w.earlier.later = w.later;
    if (w.later === undefined) this.last = w.earlier;
    else w.later.earlier = w.earlier;
    w.earlier = w.later = undefined;
  }
}
