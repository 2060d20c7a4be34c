import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { flushMicrotasks, VirtualClock } from '../../../src/core/virtual-clock.ts';
import { type DrainResult, type Reply, ServerProtection } from '../../../src/http/server/core.ts';

/** The part of a node:http response the protection touches; `destroy` closes it as a socket would. */
class FakeResponse extends EventEmitter {
  statusCode = 200;
  writableFinished = false;
  headersSent = false;
  shouldKeepAlive = true;
  destroyed = false;
  /** Destroyed by the client rather than by the protection. */
  left = false;

  leave(): void {
    this.left = true;
    this.destroy();
  }

  finish(status: number): void {
    this.statusCode = status;
    this.headersSent = true;
    this.writableFinished = true;
    this.emit('close');
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    queueMicrotask(() => this.emit('close'));
  }
}

type State = 'queued' | 'admitted' | 'refused' | 'gone';

interface Request {
  state: State;
  res: FakeResponse;
  status: number | undefined;
  /** Answered (admitted or refused) this many times: never more than once. */
  answers: number;
  admitted: boolean;
}

const op = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ type: 'arrive' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('finish' as const),
      i: fc.nat(),
      status: fc.constantFrom(200, 404, 500, 503),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('leave' as const), i: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant('close' as const), timeout: fc.integer({ min: 0, max: 500 }) }),
  },
);

describe('server protection draining (property)', () => {
  it('never exceeds the limit, answers each request once, and close() waits for exactly what is pending', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(op, { minLength: 1, maxLength: 40 }),
        async (limit, ops) => {
          const clock = new VirtualClock();
          const protection = new ServerProtection({
            clock,
            limit,
            pressure: false,
            queue: { size: 4, timeout: 300, target: false },
            deadlineHeader: false,
          });
          const requests: Request[] = [];
          // Set by the drain's promise (a holder, as the callback assigns it).
          const drain: { result: DrainResult | undefined } = { result: undefined };
          let closing: Promise<DrainResult> | undefined;
          /** Requests pending when the drain started, and which of them were still pending when it ended. */
          let pendingAtClose = 0;
          // Cut requests have their responses destroyed by the drain.
          const live = (): Request[] =>
            requests.filter((r) => (r.state === 'queued' || r.state === 'admitted') && !r.res.destroyed);
          const settle = (r: Request, answer: Reply | undefined | null): void => {
            if (answer === null) {
              r.state = 'gone';
              return;
            }
            r.answers++;
            if (answer === undefined) {
              r.state = 'admitted';
              r.admitted = true;
            } else {
              r.state = 'refused';
              r.status = answer.status;
              r.res.finish(answer.status);
            }
          };

          for (const o of ops) {
            if (o.type === 'arrive') {
              const res = new FakeResponse();
              const r: Request = { state: 'queued', res, status: undefined, answers: 0, admitted: false };
              requests.push(r);
              const req = { url: '/x', method: 'GET', headers: {} } as IncomingMessage;
              const answer = protection.admit(req, res as unknown as ServerResponse, undefined);
              if (answer instanceof Promise) void answer.then((a) => settle(r, a));
              else settle(r, answer);
              if (closing !== undefined) {
                assert.equal(r.state, 'refused', 'a request arriving while draining is refused');
                assert.equal(r.status, 503);
              }
            } else if (o.type === 'finish' || o.type === 'leave') {
              const open = live();
              const r = open[o.i % Math.max(1, open.length)];
              if (r !== undefined) {
                if (o.type === 'finish' && r.state === 'admitted') r.res.finish(o.status);
                else r.res.leave();
                r.state = 'gone';
              }
            } else if (o.type === 'advance') {
              clock.advance(o.ms);
            } else if (closing === undefined) {
              pendingAtClose = protection.pending;
              closing = protection.close(o.timeout);
              void closing.then((d) => {
                drain.result = d;
              });
            } else {
              assert.equal(protection.close(o.timeout), closing, 'close() is idempotent');
            }
            await flushMicrotasks();
            assert.ok(protection.limiter.inflight <= limit, 'the limit is never exceeded');
            assert.equal(protection.pending, live().length, 'pending counts queued and admitted requests');
            if (closing !== undefined) assert.equal(protection.ready, false);
            if (drain.result !== undefined)
              assert.equal(protection.pending, 0, 'nothing is pending once drained');
          }

          if (closing !== undefined && drain.result === undefined) {
            const before = protection.pending;
            clock.advance(1000);
            await flushMicrotasks();
            await flushMicrotasks();
            // The timer ran inside advance(): read the holder afresh.
            const ended = drain.result as DrainResult | undefined;
            assert.ok(ended !== undefined, 'the drain ends by its timeout');
            assert.ok(ended.cut <= before);
          }
          if (drain.result !== undefined) {
            assert.ok(drain.result.cut <= pendingAtClose, 'only what was pending is cut');
            assert.equal(drain.result.drained, drain.result.cut === 0);
          }
          // Everyone still waiting leaves; nothing may stay held.
          for (const r of live()) r.res.leave();
          await flushMicrotasks();
          await flushMicrotasks();
          for (const r of requests) {
            assert.ok(r.answers <= 1, 'answered at most once');
            // Only work that started is cut; a request that never started is told so with a 503.
            if (r.res.destroyed && !r.res.left) assert.ok(r.admitted, 'only admitted requests are cut');
          }
          assert.equal(protection.limiter.inflight, 0);
          assert.equal(protection.limiter.queued, 0);
          assert.equal(protection.pending, 0);
          const counted = Object.values(protection.snapshot().routes).reduce(
            (n, r) =>
              n +
              r.success +
              r.dropped +
              r.ignored +
              r.disconnected +
              r.slowBody +
              r.shed +
              r.quota +
              r.invalid,
            0,
          );
          assert.equal(counted, requests.length, 'each request is counted once, in one outcome');
          await protection.close(0);
          assert.equal(clock.pending, 0, 'no timer left behind');
        },
      ),
      { numRuns: 200 },
    );
  });
});
