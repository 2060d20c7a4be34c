import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { isActuatorError } from '../../../src/scale/actuators/errors.ts';
import {
  type ProcessActuator,
  type ProcessActuatorEvents,
  type ProcessActuatorOptions,
  type ProcessActuatorSnapshot,
  processActuator,
} from '../../../src/scale/actuators/process.ts';

const fixture = new URL('../../fixtures/scale-child.ts', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'sluice-process-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Real processes report in real time: waits (up to 10 s) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > 10_000) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Harness {
  readonly actuator: ProcessActuator;
  readonly clock: VirtualClock;
  readonly exits: ProcessActuatorEvents['exit'][];
  readonly starts: ProcessActuatorEvents['start'][];
  readonly backoffs: ProcessActuatorEvents['backoff'][];
  snap(): ProcessActuatorSnapshot;
}

/** Runs `body` with an actuator on a virtual clock (for its timers), closing it whatever happens. */
async function withActuator(
  options: { readonly [K in keyof ProcessActuatorOptions]?: ProcessActuatorOptions[K] | undefined },
  body: (h: Harness) => Promise<void>,
): Promise<void> {
  const clock = new VirtualClock();
  const actuator = processActuator({
    modulePath: fixture,
    execArgv: [],
    readyWhen: 'message',
    stdio: 'ignore',
    clock,
    ...options,
  } as ProcessActuatorOptions);
  const exits: ProcessActuatorEvents['exit'][] = [];
  const starts: ProcessActuatorEvents['start'][] = [];
  const backoffs: ProcessActuatorEvents['backoff'][] = [];
  actuator.on('exit', (e) => exits.push(e));
  actuator.on('start', (e) => starts.push(e));
  actuator.on('backoff', (e) => backoffs.push(e));
  try {
    await body({ actuator, clock, exits, starts, backoffs, snap: () => actuator.snapshot() });
  } finally {
    const closing = actuator.close();
    // Children that ignore the stop signal need the SIGKILL timer, which runs on the virtual clock.
    clock.advance(60_000);
    await closing;
  }
}

describe('processActuator', () => {
  it('forks the module N times and counts each child ready once it reports in', async () => {
    await withActuator({}, async ({ actuator, snap }) => {
      actuator.scale(3);
      assert.deepEqual(actuator.capacity(), { desired: 3, ready: 0 });
      assert.equal(snap().starting, 3);
      await until(() => actuator.capacity().ready === 3, '3 ready');
      const s = snap();
      assert.deepEqual(
        s.processes.map((p) => [p.slot, p.state]),
        [
          [0, 'ready'],
          [1, 'ready'],
          [2, 'ready'],
        ],
      );
      assert.equal(new Set(s.processes.map((p) => p.pid)).size, 3);
    });
  });

  it('spawns a program and counts it ready when it has started', async () => {
    await withActuator(
      {
        modulePath: undefined,
        command: process.execPath,
        args: [fixture.pathname, '--no-ready'],
        readyWhen: 'spawn',
      },
      async ({ actuator }) => {
        assert.equal(actuator.name, `process:${process.execPath.split('/').at(-1)}`);
        actuator.scale(2);
        await until(() => actuator.capacity().ready === 2, '2 ready');
      },
    );
  });

  it('stops the newest first on a scale-down, with the stop signal, and reuses their slots', async () => {
    await withActuator({}, async ({ actuator, exits, snap }) => {
      actuator.scale(3);
      await until(() => actuator.capacity().ready === 3, '3 ready');
      const [oldest, middle, newest] = snap().processes.map((p) => p.pid);
      actuator.scale(1);
      assert.deepEqual(actuator.capacity(), { desired: 1, ready: 1 });
      assert.equal(snap().stopping, 2);
      await until(() => exits.length === 2, '2 exits');
      assert.deepEqual(exits.map((e) => e.pid).sort(), [middle, newest].sort());
      for (const e of exits) {
        assert.equal(e.cause, 'stopped');
        assert.equal(e.crashed, false);
        assert.equal(e.code, 0, 'the child exited on SIGTERM by itself');
      }
      assert.deepEqual(
        snap().processes.map((p) => p.pid),
        [oldest],
      );
      assert.equal(snap().crashes, 0);
      actuator.scale(2);
      assert.deepEqual(
        snap().processes.map((p) => p.slot),
        [0, 1],
      );
    });
  });

  it('sends SIGKILL once stopTimeoutMs has passed to a child that ignores the stop signal', async () => {
    const marker = join(dir, 'ignores-term');
    await withActuator(
      { args: ['--ignore-term', `--marker=${marker}`], stopTimeoutMs: 5000 },
      async ({ actuator, clock, exits, snap }) => {
        actuator.scale(1);
        await until(() => actuator.capacity().ready === 1 && existsSync(marker), 'ready');
        actuator.scale(0);
        await pause(100);
        assert.equal(exits.length, 0, 'SIGTERM alone did not end it');
        assert.equal(snap().stopping, 1);
        clock.advance(4999);
        await pause(50);
        assert.equal(exits.length, 0);
        clock.advance(1);
        await until(() => exits.length === 1, 'the exit');
        assert.equal(exits[0]!.signal, 'SIGKILL');
        assert.equal(exits[0]!.cause, 'stopped');
        assert.equal(clock.pending, 0);
      },
    );
  });

  it('replaces a child that crashes, and counts the crash', async () => {
    await withActuator({}, async ({ actuator, exits, snap }) => {
      actuator.scale(2);
      await until(() => actuator.capacity().ready === 2, '2 ready');
      const victim = snap().processes[1]!.pid!;
      process.kill(victim, 'SIGKILL');
      await until(() => exits.length === 1, 'the crash');
      assert.equal(exits[0]!.pid, victim);
      assert.equal(exits[0]!.cause, 'crashed');
      assert.equal(exits[0]!.crashed, true);
      assert.equal(snap().crashes, 1);
      assert.equal(snap().backoffMs, 0, 'a first crash is replaced at once');
      await until(() => actuator.capacity().ready === 2, 'the replacement ready');
      assert.ok(!snap().processes.some((p) => p.pid === victim));
      assert.deepEqual(actuator.capacity(), { desired: 2, ready: 2 });
    });
  });

  it('backs off exponentially, up to maxMs, while children keep crashing', async () => {
    await withActuator(
      { args: ['--crash-after=0'], readyWhen: 'spawn', restartBackoff: { initialMs: 1000, maxMs: 4000 } },
      async ({ actuator, clock, backoffs, starts, snap }) => {
        actuator.scale(1);
        for (const expected of [1000, 2000, 4000, 4000]) {
          await until(
            () =>
              backoffs.length > 0 &&
              backoffs.at(-1)!.delayMs === expected &&
              snap().starting + snap().ready === 0,
            `back-off ${expected}`,
          );
          const started = starts.length;
          await pause(30);
          assert.equal(starts.length, started, 'nothing starts during the back-off');
          assert.equal(snap().backoffMs, expected);
          const before = backoffs.length;
          clock.advance(expected);
          assert.equal(starts.length, started + 1);
          await until(() => backoffs.length > before, 'the next crash');
        }
        assert.deepEqual(
          backoffs.map((b) => [b.delayMs, b.streak]),
          [
            [1000, 2],
            [2000, 3],
            [4000, 4],
            [4000, 5],
            [4000, 6],
          ],
        );
        assert.equal(snap().crashes, 6);
        assert.equal(actuator.capacity().desired, 1);
      },
    );
  });

  it('stops a child that does not report ready within readyTimeoutMs, counts it, and starts another', async () => {
    await withActuator(
      { args: ['--no-ready'], readyTimeoutMs: 2000 },
      async ({ actuator, clock, exits, starts, snap }) => {
        actuator.scale(1);
        await pause(100);
        assert.deepEqual(actuator.capacity(), { desired: 1, ready: 0 });
        clock.advance(2000);
        assert.equal(snap().crashes, 1);
        assert.equal(snap().stopping, 1);
        assert.equal(snap().starting, 1);
        assert.equal(starts.length, 2);
        await until(() => exits.length === 1, 'the exit');
        assert.equal(exits[0]!.cause, 'ready-timeout');
        assert.equal(snap().crashes, 1, 'counted once');
      },
    );
  });

  it('counts a program that cannot be started as a crash, and backs off', async () => {
    await withActuator(
      { modulePath: undefined, command: '/nonexistent/worker', readyWhen: 'spawn' },
      async (h) => {
        h.actuator.scale(1);
        await until(() => h.backoffs.length === 1, 'the back-off');
        assert.equal(h.exits.length, 2);
        for (const e of h.exits) {
          assert.equal(e.cause, 'spawn-failed');
          assert.match(String(e.error), /ENOENT/);
        }
        assert.equal(h.snap().crashes, 2);
        assert.deepEqual(h.actuator.capacity(), { desired: 1, ready: 0 });
      },
    );
  });

  it('starts the given replicas at once, and stops them all on close', async () => {
    const clock = new VirtualClock();
    const actuator = processActuator({
      modulePath: fixture,
      execArgv: [],
      stdio: 'ignore',
      readyWhen: 'message',
      replicas: 2,
      clock,
    });
    await until(() => actuator.capacity().ready === 2, '2 ready');
    const pids = actuator.snapshot().processes.map((p) => p.pid!);
    await actuator.close();
    assert.equal(actuator.snapshot().processes.length, 0);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `pid ${pid} is gone`);
    assert.throws(
      () => actuator.scale(1),
      (e) => isActuatorError(e) && /closed/.test(e.message),
    );
    assert.equal(clock.pending, 0);
  });

  it('rejects invalid options naming the option', () => {
    const bad: [unknown, string][] = [
      [{}, 'command'],
      [{ command: 'node', modulePath: 'x.js' }, 'modulePath'],
      [{ command: '' }, 'command'],
      [{ modulePath: 'http://x/y.js' }, 'modulePath'],
      [{ command: 'node', args: 'a b' }, 'args'],
      [{ command: 'node', readyWhen: 'listening' }, 'readyWhen'],
      [{ command: 'node', stopSignal: 'TERM' }, 'stopSignal'],
      [{ command: 'node', stopTimeoutMs: -1 }, 'stopTimeoutMs'],
      [{ command: 'node', readyTimeoutMs: 0 }, 'readyTimeoutMs'],
      [{ command: 'node', restartBackoff: { initialMs: 5000, maxMs: 1000 } }, 'restartBackoff.initialMs'],
      [{ command: 'node', replicas: -1 }, 'replicas'],
      [{ command: 'node', stdio: 'pipe' }, 'stdio'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => processActuator(options as never),
        (e) => isConfigError(e) && e.option === option,
        `${JSON.stringify(options)} names ${option}`,
      );
    }
  });
});
