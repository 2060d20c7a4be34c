// docs/guides/limiter.md, runnable: sh scripts/use-node.sh node examples/guides/limiter.ts
// (An application imports from 'sluice'; the examples import the sources so that `npm test` type-checks them.)

import {
  createLimiter,
  isRejectedError,
  type Permit,
  type RejectReason,
  sleep,
  systemClock,
} from '../../src/index.ts';

/** A downstream call that takes `ms` milliseconds. */
async function work(ms: number, signal?: AbortSignal): Promise<string> {
  await sleep(systemClock, ms, signal);
  return 'done';
}

// --- 1. The default: an adaptive limit, a bounded queue, nothing to tune.
const limiter = createLimiter({ name: 'inventory' });
const result = await limiter.run(({ signal }) => work(5, signal), {
  priority: 'high', // critical, high, normal (default), low, sheddable
  deadline: systemClock.now() + 250, // refused once it cannot start in time
  key: 'tenant-42', // fair turns between tenants within a priority
});
console.log(`run: ${result}; limit ${limiter.limit}, in flight ${limiter.inflight}`);

// --- 2. Permits by hand: say how the work ended, so the algorithm learns the right thing.
const permit: Permit | undefined = limiter.tryAcquire(); // synchronous; undefined at the limit
if (permit !== undefined) {
  try {
    await work(2);
    permit.success(); // a latency sample
  } catch (error) {
    // An overload signal (timeout, 503, 429) backs the limit off; any other failure teaches nothing.
    if ((error as { status?: number }).status === 503) permit.dropped();
    else permit.ignore();
  }
}

// --- 3. A small fixed limit, to see the queue and the typed rejections.
const small = createLimiter({
  name: 'small',
  limit: 2, // a fixed limit; an algorithm (gradient2(), vegas(), aimd()) adapts instead
  queue: { size: 2, timeout: 50, drop: 'priority' },
});
const reasons = new Map<RejectReason, number>();
small.on('reject', (e) => reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1));

const calls = [
  ...Array.from({ length: 4 }, () => small.run(() => work(20), { priority: 'low' })),
  // A critical newcomer to a full queue evicts the newest low-priority waiter.
  small.run(() => work(20), { priority: 'critical' }),
  // A waiter whose deadline passes before it can start is refused with reason "deadline".
  small.run(() => work(20), { deadline: systemClock.now() + 1 }),
];
const settled = await Promise.allSettled(calls);
for (const s of settled) {
  if (s.status === 'rejected' && isRejectedError(s.reason)) {
    const e = s.reason;
    // Every refusal carries the figures behind it and a retry-after hint for a Retry-After header.
    console.log(`  ${e.code} (${e.reason}): retry after ${e.retryAfterMs} ms`);
  }
}
console.log(
  `small: ${settled.filter((s) => s.status === 'fulfilled').length} ran,`,
  `rejections ${JSON.stringify(Object.fromEntries(reasons))}`,
);

// --- 4. Partitions: guaranteed shares of one limit; unused capacity is lent.
const shared = createLimiter({
  name: 'shared',
  limit: 10,
  partitions: { live: { share: 0.7 }, batch: { share: 0.3, maxShare: 0.5 } },
});
const batch = Array.from({ length: 8 }, () => shared.tryAcquire({ partition: 'batch' }));
console.log(
  `partitions: batch holds ${batch.filter((p) => p !== undefined).length} of 10 (capped at maxShare 0.5);`,
  `live may still take ${10 - shared.inflight}`,
);
for (const p of batch) p?.ignore();

// --- 5. What a dashboard or a collector reads.
console.log('snapshot:', JSON.stringify(limiter.snapshot()));
