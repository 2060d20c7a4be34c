/**
 * Counts ready replicas out of warm-up from the ready counts seen at each tick. Capacity that became
 * ready is stamped with the tick that first saw it (so it is left out at most one interval longer than
 * `warmup`); when ready capacity falls, the newest goes first (as Kubernetes removes not-ready and newer
 * pods first). The first fleet seen counts as warm. Memory: one entry per tick within `warmup`.
 */
export class WarmUp {
  readonly #warmup: number;
  #ready: number | undefined;
  // Oldest first; an entry leaves once `warmup` ms have passed since its stamp.
  readonly #warming: { readonly at: number; count: number }[] = [];

  constructor(warmup: number) {
    this.#warmup = warmup;
  }

  /** Records `ready` at `now` and returns the replicas out of warm-up. */
  observe(ready: number, now: number): number {
    const last = this.#ready;
    if (last !== undefined && ready > last) {
      this.#warming.push({ at: now, count: ready - last });
    } else if (last !== undefined && ready < last) {
      let gone = last - ready;
      while (gone > 0 && this.#warming.length > 0) {
        const newest = this.#warming[this.#warming.length - 1]!;
        const k = Math.min(gone, newest.count);
        newest.count -= k;
        gone -= k;
        if (newest.count === 0) this.#warming.pop();
      }
    }
    this.#ready = ready;
    while (this.#warming.length > 0 && this.#warming[0]!.at <= now - this.#warmup) this.#warming.shift();
    let warming = 0;
    for (const w of this.#warming) warming += w.count;
    return Math.max(0, ready - warming);
  }
}
