/**
 * An indexed binary min-heap on `expiresAt`, so a waiter that leaves the queue early (served, aborted,
 * evicted) is removed in O(log n) instead of lingering until its expiry. Hand-written: it sits on the
 * queueing path and needs the index kept inside the waiter itself.
 */
export interface HeapItem {
  expiresAt: number;
  heapIndex: number;
}

export class ExpiryHeap<T extends HeapItem> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(item: T): void {
    item.heapIndex = this.#items.length;
    this.#items.push(item);
    this.#up(item.heapIndex);
  }

  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const items = this.#items;
    const last = items.pop()!;
    item.heapIndex = -1;
    if (i === items.length) return;
    items[i] = last;
    last.heapIndex = i;
    this.#down(i);
    this.#up(last.heapIndex);
  }

  #up(i: number): void {
    const items = this.#items;
    const item = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (parent.expiresAt <= item.expiresAt) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && items[r]!.expiresAt < items[l]!.expiresAt ? r : l;
      const child = items[c]!;
      if (child.expiresAt >= item.expiresAt) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
