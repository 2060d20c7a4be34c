import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createConsumer } from '../../src/consumer/consumer.ts';
import { VirtualClock } from '../../src/core/virtual-clock.ts';
import { constantBackoff } from '../../src/policies/backoff/constant.ts';
import { ManualLimit } from '../helpers/manual-limit.ts';
import { FakeBroker, type FakeMessage } from './fake-broker.ts';

const scenario = fc.record({
  messages: fc.array(
    fc.record({
      priority: fc.integer({ min: -2, max: 2 }),
      // Outcome of each counted delivery in turn (true: the handler fails); later deliveries succeed.
      failures: fc.array(fc.boolean(), { maxLength: 4 }),
      latency: fc.integer({ min: 0, max: 60 }),
    }),
    { minLength: 1, maxLength: 25 },
  ),
  initialLimit: fc.integer({ min: 1, max: 6 }),
  limitChanges: fc.array(
    fc.record({ at: fc.integer({ min: 1, max: 800 }), to: fc.integer({ min: 1, max: 6 }) }),
    {
      maxLength: 4,
    },
  ),
  buffer: fc.integer({ min: 0, max: 3 }),
  maxDeliveries: fc.integer({ min: 1, max: 4 }),
  pressure: fc.option(
    fc.record({ from: fc.integer({ min: 0, max: 500 }), span: fc.integer({ min: 1, max: 400 }) }),
  ),
  maxWait: fc.constantFrom(80, 300, Number.POSITIVE_INFINITY),
  // Deliveries whose acknowledgement the broker loses (message index, delivery number).
  lostAcks: fc.array(fc.tuple(fc.nat(24), fc.integer({ min: 1, max: 3 })), { maxLength: 3 }),
  stopAt: fc.option(fc.integer({ min: 1, max: 600 })),
});

describe('createConsumer (property)', () => {
  it('acks nothing before its handler resolved, loses nothing, runs a message once at a time, and stays in its window', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const clock = new VirtualClock();
        const lost = new Set(s.lostAcks.map(([i, d]) => `m${i + 1}#${d}`));
        const lossy = lost.size > 0;
        const broker = new FakeBroker({
          clock,
          // Without lost acks the broker never redelivers on its own, so a message the consumer forgot
          // would stay unacked for ever and show at the end.
          ackWait: lossy ? 500 : Number.POSITIVE_INFINITY,
          touchInterval: lossy ? 150 : undefined,
          fail: (op, id) => {
            if (op !== 'ack' || id === undefined) return false;
            return lost.has(`${id}#${broker.deliveriesOf(id)}`);
          },
        });
        const plan = new Map<string, (typeof s.messages)[number]>();
        for (const m of s.messages) plan.set(broker.publish('body', m.priority), m);

        const limit = new ManualLimit(s.initialLimit);
        for (const change of s.limitChanges) clock.setTimer(() => limit.set(change.to), change.at);
        const pressured = (): boolean =>
          s.pressure !== null &&
          clock.now() >= s.pressure.from &&
          clock.now() < s.pressure.from + s.pressure.span;

        const resolved = new WeakSet<FakeMessage>();
        const failed = new WeakSet<FakeMessage>();
        const running = new Set<string>();
        let violations: string[] = [];

        const run = (phase: number) =>
          createConsumer(broker, {
            clock,
            limit,
            buffer: s.buffer,
            maxDeliveries: s.maxDeliveries,
            maxWait: s.maxWait,
            backoff: constantBackoff({ delay: 50 }),
            shedDelay: 40,
            shed: (m) => phase === 0 && pressured() && m.priority < 2,
            handler: async (m) => {
              if (running.has(m.id)) violations.push(`${m.id} handled twice at once`);
              running.add(m.id);
              if (inflight() > limit.current)
                violations.push(`${inflight()} in flight over ${limit.current}`);
              const p = plan.get(m.id)!;
              await new Promise<void>((resolve) => clock.setTimer(resolve, p.latency));
              running.delete(m.id);
              if (p.failures[m.deliveries - 1] === true) {
                failed.add(m);
                throw new Error('handler failed');
              }
              resolved.add(m);
            },
          });
        let current = run(0);
        const inflight = (): number => running.size;

        // Every settlement checks what the handler did for that very delivery.
        const ack = broker.ack.bind(broker);
        broker.ack = (m) => {
          if (!resolved.has(m) && !(failed.has(m) && m.deliveries >= s.maxDeliveries)) {
            violations.push(`${m.id} acked before its handler resolved`);
          }
          return ack(m);
        };
        const deadLetter = broker.deadLetter.bind(broker);
        broker.deadLetter = (m, info) => {
          if (!failed.has(m) || m.deliveries < s.maxDeliveries) {
            violations.push(`${m.id} dead-lettered after delivery ${m.deliveries} without failing enough`);
          }
          return deadLetter(m, info);
        };
        broker.check = (max) => {
          const snap = current.snapshot();
          if (max + snap.held > snap.window)
            violations.push(`asked ${max} holding ${snap.held} of ${snap.window}`);
        };

        await current.start();
        if (s.stopAt !== null) {
          await clock.advanceAsync(s.stopAt);
          const stopping = current.stop();
          for (let i = 0; i < 100 && current.state !== 'stopped'; i++) await clock.advanceAsync(20);
          await stopping;
          if (!lossy) {
            assert.equal(broker.counts().unacked, 0, 'a graceful stop settles everything it held');
          }
          current = run(1); // a new consumer takes over the same queue
          await current.start();
        }
        const settledAll = (): boolean => {
          const c = broker.counts();
          return c.acked + c.dead === broker.size;
        };
        for (let i = 0; i < 400 && !settledAll(); i++) await clock.advanceAsync(25);
        await current.stop();

        violations = [...new Set(violations)];
        assert.deepEqual(violations, []);
        const counts = broker.counts();
        assert.equal(counts.acked + counts.dead, broker.size, `nothing lost: ${JSON.stringify(counts)}`);
        for (const [id, p] of plan) {
          // Dead exactly when the first maxDeliveries deliveries all failed.
          const dies =
            p.failures.length >= s.maxDeliveries && p.failures.slice(0, s.maxDeliveries).every(Boolean);
          if (!lossy) assert.equal(broker.stateOf(id), dies ? 'dead' : 'acked', id);
        }
        if (!lossy) assert.equal(broker.stale, 0, 'no settlement for a delivery the broker took back');
      }),
      { numRuns: 150 },
    );
  });
});
