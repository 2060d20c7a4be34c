import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isRejectedError } from '../../src/core/errors.ts';
import { flushMicrotasks, VirtualClock } from '../../src/core/virtual-clock.ts';
import { createPool, isPoolClosedError, type PoolClosedError } from '../../src/scale/pool/index.ts';

type Command =
  | { readonly kind: 'submit'; readonly priority: number; readonly fail: boolean }
  | { readonly kind: 'complete'; readonly index: number }
  | { readonly kind: 'resize'; readonly size: number; readonly viaActuator: boolean }
  | { readonly kind: 'close'; readonly drain: boolean };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('submit' as const),
      priority: fc.integer({ min: 0, max: 2 }),
      fail: fc.boolean(),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('complete' as const), index: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('resize' as const),
      size: fc.integer({ min: -1, max: 7 }),
      viaActuator: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), drain: fc.boolean() }) },
);

const scenario = fc
  .record({
    min: fc.integer({ min: 0, max: 2 }),
    extra: fc.integer({ min: 0, max: 4 }),
    queue: fc.integer({ min: 0, max: 4 }),
    commands: fc.array(command, { maxLength: 60, size: 'max' }),
  })
  .map(({ min, extra, queue, commands }) => ({ min, max: Math.max(min, 1) + extra, queue, commands }));

interface Tracked {
  readonly id: number;
  readonly fail: boolean;
  /** The pool's state just before submit said the queue was full (and no worker idle). */
  readonly expectFull: boolean;
  readonly submittedWhileClosing: boolean;
  readonly gate: PromiseWithResolvers<number>;
  starts: number;
  settles: number;
  outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | undefined;
}

describe('worker pool under random submit / resize / completion / close', () => {
  it('runs every accepted task exactly once, settles every task once, never exceeds the target or max', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ min, max, queue, commands }) => {
        const clock = new VirtualClock();
        const pool = createPool({ clock, min, max, queue: { size: queue } });
        const tasks: Tracked[] = [];
        const running: Tracked[] = [];
        let closing: Promise<void> | undefined;
        let closeCalled = false;
        let refusedQueue = false;
        const violations: string[] = [];

        const submit = (fail: boolean, priority: number): void => {
          const before = pool.snapshot();
          const t: Tracked = {
            id: tasks.length,
            fail,
            expectFull: before.queued >= queue && before.idle === 0,
            submittedWhileClosing: closeCalled,
            gate: Promise.withResolvers<number>(),
            starts: 0,
            settles: 0,
            outcome: undefined,
          };
          tasks.push(t);
          pool
            .submit(
              () => {
                t.starts++;
                running.push(t);
                const s = pool.snapshot();
                // A task starts only on a worker that is not retiring; a closing pool keeps one to drain.
                const allowed = Math.max(s.size, closeCalled ? 1 : 0);
                if (s.busy - s.retiring > allowed) {
                  violations.push(
                    `task ${t.id}: ${s.busy - s.retiring} running on kept workers > ${allowed}`,
                  );
                }
                if (s.busy !== running.length)
                  violations.push(`busy ${s.busy} but ${running.length} running`);
                return t.gate.promise;
              },
              { priority },
            )
            .then(
              (value) => {
                t.settles++;
                t.outcome = { ok: true, value };
              },
              (error: unknown) => {
                t.settles++;
                t.outcome = { ok: false, error };
              },
            );
        };

        const complete = (index: number): void => {
          if (running.length === 0) return;
          const [t] = running.splice(index % running.length, 1);
          if (t!.fail) t!.gate.reject(new Error(`task ${t!.id} failed`));
          else t!.gate.resolve(t!.id);
        };

        for (const c of commands) {
          switch (c.kind) {
            case 'submit':
              submit(c.fail, c.priority);
              break;
            case 'complete':
              complete(c.index);
              break;
            case 'resize':
              if (c.viaActuator) await pool.actuator.scale(Math.max(0, c.size), AbortSignal.timeout(1000));
              else pool.resize(c.size);
              break;
            case 'close':
              if (!c.drain) refusedQueue = true;
              closeCalled = true;
              closing = pool.close({ drain: c.drain });
              break;
          }
          await flushMicrotasks();
          const s = pool.snapshot();
          assert.ok(
            s.queued === 0 || s.idle === 0,
            `a task waits while a worker idles: ${JSON.stringify(s)}`,
          );
          if (s.state === 'open') assert.equal(s.ready, s.size);
          // Growing keeps workers marked to retire before starting new ones, so live workers stay <= max.
          assert.ok(s.ready + s.starting + s.retiring <= max, `more than max workers: ${JSON.stringify(s)}`);
          assert.ok(s.size >= min && s.size <= max);
        }

        closeCalled = true;
        closing ??= pool.close();
        let closed = false;
        void closing.then(() => {
          closed = true;
        });
        for (let guard = 0; running.length > 0 && guard < 1000; guard++) {
          complete(0);
          await flushMicrotasks();
        }
        await flushMicrotasks();

        assert.deepEqual(violations, []);
        assert.equal(closed, true, 'close() resolves once everything settled');
        for (const t of tasks) {
          assert.equal(t.settles, 1, `task ${t.id} settled ${t.settles} times`);
          assert.ok(t.starts <= 1, `task ${t.id} ran ${t.starts} times`);
          const outcome = t.outcome!;
          if (t.starts === 1) {
            if (t.fail) assert.ok(!outcome.ok && (outcome.error as Error).message === `task ${t.id} failed`);
            else assert.deepEqual(outcome, { ok: true, value: t.id });
            assert.equal(t.expectFull, false);
            continue;
          }
          // Never ran: refused for a full queue, or by close (at submit, or from the queue with drain false).
          assert.equal(outcome.ok, false);
          const error = (outcome as { error: unknown }).error;
          if (isRejectedError(error)) {
            assert.equal(error.reason, 'queue-full');
            assert.equal(t.expectFull, true, `task ${t.id} refused as queue-full though there was room`);
          } else {
            assert.ok(isPoolClosedError(error), `task ${t.id} rejected with ${String(error)}`);
            const phase = (error as PoolClosedError).phase;
            if (phase === 'submit') assert.equal(t.submittedWhileClosing, true);
            else
              assert.ok(phase === 'queued' && refusedQueue, `task ${t.id} refused from the queue (${phase})`);
          }
        }
        assert.equal(pool.snapshot().state, 'closed');
      }),
      { numRuns: 300 },
    );
  });
});
