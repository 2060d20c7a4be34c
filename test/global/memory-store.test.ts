import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { memoryStore } from '../../src/global/memory-store.ts';
import { storeContract } from './store-contract.ts';

let next = 0;
storeContract('memory', () => {
  const clock = new VirtualClock(1_000_000);
  return {
    store: memoryStore({ clock }),
    elapse: (ms) => {
      clock.advance(ms);
      return Promise.resolve();
    },
    slack: 0,
    key: () => `k${++next}`,
    runs: 100,
  };
});

describe('memoryStore', () => {
  it('rejects a clock that is not one', () => {
    assert.throws(() => memoryStore({ clock: 5 as never }), isConfigError);
  });

  it('sweeps only keys that hold nothing: a bucket still refilling and a live lease survive a sweep', async () => {
    const clock = new VirtualClock();
    const store = memoryStore({ clock });
    const slow = { rate: 0.001, burst: 5 };
    await store.take('kept', 4, slow);
    const lease = await store.acquire('leased', 1, 60_000);
    for (let i = 0; i < 3000; i++) {
      await store.take(`b${i}`, 1, { rate: 1000, burst: 1 });
      await store.acquire(`l${i}`, 1, 1);
      clock.advance(1);
    }
    assert.equal((await store.take('kept', 2, slow)).granted, false, 'the used bucket was not reset to full');
    assert.equal(await store.held('leased'), 1);
    assert.equal(await store.release('leased', lease.id!), true);
  });
});
