import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { flushMicrotasks, VirtualClock } from '../../src/core/virtual-clock.ts';
import {
  type BreakerEvents,
  type BreakerIsolation,
  type BreakerState,
  type BreakerTicket,
  createBreaker,
  isCircuitOpenError,
} from '../../src/policies/breaker.ts';

type Command =
  | { kind: 'pass'; priority: number | undefined }
  | { kind: 'settle'; index: number; outcome: 'success' | 'failure' | 'ignore' }
  | { kind: 'execute'; priority: number | undefined }
  | { kind: 'finish'; index: number; ok: boolean }
  | { kind: 'advance'; ms: number }
  | { kind: 'isolate' }
  | { kind: 'dispose'; index: number }
  | { kind: 'reset' };

const priority = fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined });
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('pass' as const), priority }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      index: fc.nat(),
      outcome: fc.constantFrom('success' as const, 'failure' as const, 'failure' as const, 'ignore' as const),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('execute' as const), priority }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('finish' as const), index: fc.nat(), ok: fc.boolean() }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'isolate' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dispose' as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reset' as const }) },
);

const legal = new Set([
  'closed>open',
  'closed>isolated',
  'open>half-open',
  'open>isolated',
  'open>closed',
  'half-open>open',
  'half-open>closed',
  'half-open>isolated',
  'isolated>closed',
]);

interface Held {
  ticket: BreakerTicket;
  period: number;
}

interface Call {
  ran: number;
  resolve: (() => void) | undefined;
  reject: ((e: Error) => void) | undefined;
  settled: number;
  outcome: 'value' | 'open' | 'error' | undefined;
}

describe('createBreaker (property)', () => {
  it('never has more probes or trickle calls in flight than allowed, and settles every call once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { minLength: 20, maxLength: 120, size: 'max' }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        async (commands, probes, concurrency, failOpen) => {
          const clock = new VirtualClock();
          const breaker = createBreaker({
            clock,
            consecutiveFailures: 3,
            window: { duration: 500, buckets: 5 },
            minimumCalls: 4,
            openDuration: 100,
            maxOpenDuration: 800,
            halfOpen: { probes, successes: 2 },
            conservative: { priority: 'high', concurrency, interval: 50 },
            failOpen,
          });
          let period = 0;
          let last: BreakerState = 'closed';
          breaker.on('state', (e: BreakerEvents['state']) => {
            assert.equal(e.from, last, 'transitions chain');
            assert.ok(legal.has(`${e.from}>${e.to}`), `illegal ${e.from} -> ${e.to}`);
            last = e.to;
            period++;
          });
          const held: Held[] = [];
          const calls: Call[] = [];
          let isolations: BreakerIsolation[] = [];

          for (const c of commands) {
            switch (c.kind) {
              case 'pass': {
                const before = breaker.state;
                const ticket = breaker.tryPass(c.priority);
                if (ticket === undefined) {
                  assert.ok(!failOpen, 'fail-open never refuses');
                  assert.notEqual(before, 'closed', 'a closed breaker never refuses');
                } else {
                  held.push({ ticket, period });
                }
                break;
              }
              case 'settle': {
                if (held.length === 0) break;
                const [h] = held.splice(c.index % held.length, 1);
                h!.ticket[c.outcome]();
                assert.equal(h!.ticket.settled, true);
                break;
              }
              case 'execute': {
                const call: Call = {
                  ran: 0,
                  resolve: undefined,
                  reject: undefined,
                  settled: 0,
                  outcome: undefined,
                };
                calls.push(call);
                breaker
                  .execute(
                    () =>
                      new Promise<void>((resolve, reject) => {
                        call.ran++;
                        call.resolve = resolve;
                        call.reject = reject;
                      }),
                    { priority: c.priority },
                  )
                  .then(
                    () => {
                      call.settled++;
                      call.outcome = 'value';
                    },
                    (e: unknown) => {
                      call.settled++;
                      call.outcome = isCircuitOpenError(e) ? 'open' : 'error';
                    },
                  );
                break;
              }
              case 'finish': {
                const open = calls.filter((k) => k.resolve !== undefined);
                if (open.length === 0) break;
                const k = open[c.index % open.length]!;
                if (c.ok) k.resolve!();
                else k.reject!(new Error('down'));
                k.resolve = undefined;
                k.reject = undefined;
                await flushMicrotasks();
                break;
              }
              case 'advance':
                clock.advance(c.ms);
                break;
              case 'isolate':
                isolations.push(breaker.isolate());
                break;
              case 'dispose': {
                if (isolations.length === 0) break;
                const [handle] = isolations.splice(c.index % isolations.length, 1);
                handle!.dispose();
                break;
              }
              case 'reset':
                breaker.reset();
                isolations = [];
                break;
            }

            const snap = breaker.snapshot();
            assert.equal(snap.state === 'isolated', isolations.length > 0);
            assert.equal(snap.isolations, isolations.length);
            assert.ok(snap.probesInFlight <= probes);
            assert.ok(snap.trickleInFlight <= concurrency);
            // Execute calls hold tickets the test cannot see; count them only once none is running.
            if (calls.every((k) => k.resolve === undefined)) {
              const trickles = held.filter((h) => h.ticket.role === 'trickle').length;
              assert.equal(snap.trickleInFlight, trickles);
              if (snap.state === 'half-open') {
                const mine = held.filter((h) => h.ticket.role === 'probe' && h.period === period).length;
                assert.equal(snap.probesInFlight, mine);
              }
            }
            assert.ok(snap.retryAfterMs >= 0 && snap.retryAfterMs <= 800);
          }

          for (const k of calls) k.resolve?.();
          await flushMicrotasks();
          for (const k of calls) {
            assert.equal(k.settled, 1, 'every call settles exactly once');
            assert.ok(k.ran <= 1, 'the work runs at most once');
            assert.equal(k.outcome === 'open', k.ran === 0, 'refused exactly when the work did not run');
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
