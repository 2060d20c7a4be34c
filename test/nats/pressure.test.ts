import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { systemClock } from '../../src/core/clock.ts';
import { isConfigError } from '../../src/core/errors.ts';
import { pressurePublisher, subscribePressure } from '../../src/global/pressure-bus.ts';
import { pressureCap } from '../../src/global/pressure-cap.ts';
import { createLimiter } from '../../src/limiter/limiter.ts';
import { fixedLimit } from '../../src/limits/fixed.ts';
import { natsPressureTransport } from '../../src/nats/transport.ts';
import { PressureMeter } from '../../src/signals/pressure.ts';
import { services } from '../helpers/services.ts';

const service = await services.nats();

/** Polls `condition` every 10 ms for up to `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('pressure bus over NATS core', { skip: service.skip }, () => {
  let downstream: NatsConnection;
  let caller: NatsConnection;
  const prefix = `sluice.test.${randomUUID()}.`;
  before(async () => {
    downstream = await connect({ servers: service.url });
    caller = await connect({ servers: service.url });
  });
  after(async () => {
    await downstream.close();
    await caller.close();
  });

  it("lowers a caller's limiter as the downstream's meter rises, and lifts it when the signal goes stale", async () => {
    const meter = new PressureMeter({ halfLife: 1 });
    const publisher = pressurePublisher({
      transport: natsPressureTransport({ nc: downstream, prefix }),
      name: 'inventory',
      meter,
      interval: 50,
      clock: systemClock,
    });
    const inventory = await subscribePressure({
      transport: natsPressureTransport({ nc: caller, prefix }),
      name: 'inventory',
      clock: systemClock,
    });
    await caller.flush(); // the subscription reached the server
    const limiter = createLimiter({
      limit: pressureCap(fixedLimit(30), { signal: inventory }),
      queue: false,
    });
    meter.update({ queueDepth: 5, queueCapacity: 100 }, 0);
    publisher.start();
    await until(() => inventory.pressure !== undefined, 2000, 'the first reading');
    assert.equal(limiter.limit, 30);
    meter.update({ queueDepth: 100, queueCapacity: 100, dropRate: 0.2 }, 10);
    await until(() => limiter.limit === 3, 2000, 'the limit to fall');
    assert.equal(inventory.instances, 1);
    publisher.stop();
    await until(() => inventory.pressure === undefined, 2000, 'the reading to expire');
    assert.equal(limiter.limit, 30);
    await inventory.close();
  });

  it('accepts a NatsConnection as it is, and refuses a wildcard prefix', () => {
    assert.throws(() => natsPressureTransport({ nc: caller, prefix: 'a.*.' }), isConfigError);
    assert.throws(() => natsPressureTransport({ nc: {} as never }), isConfigError);
  });
});
