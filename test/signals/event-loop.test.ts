import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConfigError } from '../../src/core/errors.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { EventLoopMonitor, type EventLoopReading } from '../../src/signals/event-loop.ts';

function assertInRange(r: EventLoopReading): void {
  for (const delay of [r.delayP99Ms, r.delayMeanMs, r.delayMaxMs]) {
    assert.ok(Number.isNaN(delay) || (delay >= 0 && Number.isFinite(delay)), `delay ${delay}`);
  }
  assert.ok(r.utilization >= 0 && r.utilization <= 1, `utilization ${r.utilization}`);
}

describe('EventLoopMonitor', () => {
  it('reads nothing before it starts', () => {
    const m = new EventLoopMonitor({ clock: new VirtualClock() });
    assert.equal(m.running, false);
    const r = m.sample();
    assert.ok(Number.isNaN(r.utilization) && Number.isNaN(r.delayP99Ms));
  });

  it('samples on a timer from the injected clock and reads values in range', async () => {
    const clock = new VirtualClock();
    const m = new EventLoopMonitor({ clock, interval: 500 });
    m.start();
    assert.equal(m.running, true);
    assert.equal(clock.pending, 1);
    await new Promise((resolve) => setImmediate(resolve)); // let the real loop turn once
    clock.advance(500);
    assert.equal(clock.pending, 1, 'the timer re-arms itself');
    assertInRange(m.reading);
    assert.ok(!Number.isNaN(m.reading.utilization));
    clock.advance(500);
    assertInRange(m.reading);
    m.stop();
  });

  it('stops its timer on stop, and start and stop are idempotent', () => {
    const clock = new VirtualClock();
    const m = new EventLoopMonitor({ clock });
    m.start();
    m.start();
    assert.equal(clock.pending, 1);
    m.stop();
    m.stop();
    assert.equal(m.running, false);
    assert.equal(clock.pending, 0);
    const last = m.reading;
    clock.advance(5000);
    assert.equal(m.reading, last);
  });

  it('rejects invalid options with a ConfigError naming the option', () => {
    const bad: [unknown, string][] = [
      [{ interval: 0 }, 'interval'],
      [{ interval: Number.NaN }, 'interval'],
      [{ resolution: 0.5 }, 'resolution'],
      [{ resolution: 0 }, 'resolution'],
      [{ clock: {} }, 'clock'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => new EventLoopMonitor(options as never),
        (error) => isConfigError(error) && error.option === option,
        JSON.stringify(options),
      );
    }
  });
});
