/**
 * Samples of many series over one shared time axis, each series in a ring of `capacity` slots: once the
 * series are known, memory stays the same however long the process runs. Every series has a slot for
 * every sample (NaN where it had no value), so all of them line up with the time axis.
 */
export class History {
  readonly capacity: number;
  readonly #times: Float64Array;
  readonly #series = new Map<string, Float64Array>();
  /** Samples taken since the start; the next one goes to slot `#count % capacity`. */
  #count = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#times = new Float64Array(capacity);
  }

  /** Samples held: at most `capacity`. */
  get size(): number {
    return Math.min(this.#count, this.capacity);
  }

  get seriesCount(): number {
    return this.#series.size;
  }

  /** Adds a series with no value at the samples already held. Idempotent. */
  add(id: string): void {
    if (!this.#series.has(id)) this.#series.set(id, new Float64Array(this.capacity).fill(Number.NaN));
  }

  delete(id: string): void {
    this.#series.delete(id);
  }

  /** Records one sample at time `t`: each series takes its value in `values`, or NaN. */
  push(t: number, values: ReadonlyMap<string, number>): void {
    const slot = this.#count % this.capacity;
    this.#times[slot] = t;
    for (const [id, ring] of this.#series) ring[slot] = values.get(id) ?? Number.NaN;
    this.#count++;
  }

  /** Times of the samples held, oldest first. */
  times(): number[] {
    return this.#read(this.#times);
  }

  /** Values of a series at the samples held, oldest first; `null` for no value (and for a series unknown). */
  values(id: string): (number | null)[] {
    const ring = this.#series.get(id);
    if (ring === undefined) return new Array<null>(this.size).fill(null);
    return this.#read(ring).map((v) => (Number.isFinite(v) ? v : null));
  }

  #read(ring: Float64Array): number[] {
    const size = this.size;
    const start = this.#count - size;
    const out = new Array<number>(size);
    for (let i = 0; i < size; i++) out[i] = ring[(start + i) % this.capacity]!;
    return out;
  }
}

/** The last `capacity` items pushed, oldest first. */
export class Ring<T> {
  readonly capacity: number;
  readonly #items: (T | undefined)[];
  #count = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return Math.min(this.#count, this.capacity);
  }

  push(item: T): void {
    this.#items[this.#count % this.capacity] = item;
    this.#count++;
  }

  toArray(): T[] {
    const size = this.size;
    const start = this.#count - size;
    const out = new Array<T>(size);
    for (let i = 0; i < size; i++) out[i] = this.#items[(start + i) % this.capacity] as T;
    return out;
  }
}
