// docs/guides/regulator.md, runnable: sh scripts/use-node.sh node examples/guides/regulator.ts
//
// Runs on a VirtualClock (from 'sluice/testing') so that a minute of traffic takes a blink; in an
// application, leave `clock` out.

import { createRegulator, isRejectedError } from '../../src/index.ts';
import { VirtualClock } from '../../src/testing.ts';

const clock = new VirtualClock();

// A partner API with a quota of 50 requests per second: beyond it, it answers 429.
const quota = 50;
let windowStart = 0;
let used = 0;
function partnerApi(): 200 | 429 {
  if (clock.now() - windowStart >= 1000) {
    windowStart = clock.now();
    used = 0;
  }
  return ++used <= quota ? 200 : 429;
}

// Tokens per second to start from; the rate then rises by `increase` (default rate / 10) per healthy second.
const regulator = createRegulator({ name: 'partner', rate: 30, clock });
regulator.on('rate', (e) => {
  if (e.rule === 'drop')
    console.log(
      `  ${(e.at / 1000).toFixed(1)} s: cut ${e.previous.toFixed(1)} -> ${e.rate.toFixed(1)}/s after ${e.signals['drops']} drop(s)`,
    );
});

// 200 calls per second want to go; the regulator lets through what the partner accepts.
let sent = 0;
let refused = 0;
for (let t = 0; t < 60_000; t += 5) {
  clock.advanceTo(t);
  if (t % 10_000 === 0) console.log(`${t / 1000} s: rate ${regulator.rate.toFixed(1)}/s`);
  if (!regulator.tryTake()) continue; // no token now: shed, or wait with `await regulator.take()`
  sent++;
  const status = partnerApi();
  if (status === 429) refused++;
  regulator.record(status === 429 ? 'dropped' : 'success', 20); // the outcome, and the latency in ms
}
console.log(
  `sent ${sent} in 60 s (${(sent / 60).toFixed(1)}/s against a quota of ${quota}/s), ${refused} refused`,
);

// take() waits in a bounded FIFO queue, and refuses up front a waiter that cannot start in time.
const slow = createRegulator({ name: 'slow', rate: 2, burst: 1, queue: { size: 10, timeout: 1_000 }, clock });
const waits = [slow.take(), slow.take(), slow.take(), slow.take()];
const outcome = Promise.allSettled(waits);
await clock.advanceAsync(2_000);
for (const s of await outcome) {
  if (s.status === 'fulfilled') console.log('take: granted');
  else if (isRejectedError(s.reason))
    console.log(`take: ${s.reason.reason}, retry after ${Math.ceil(s.reason.retryAfterMs)} ms`);
}
console.log('snapshot:', JSON.stringify(regulator.snapshot()));
