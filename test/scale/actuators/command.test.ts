import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isConfigError } from '../../../src/core/errors.ts';
import { VirtualClock } from '../../../src/core/virtual-clock.ts';
import { commandActuator } from '../../../src/scale/actuators/command.ts';
import {
  type CommandError,
  isActuatorError,
  isActuatorTimeoutError,
  isCommandError,
} from '../../../src/scale/actuators/errors.ts';

const node = process.execPath;
const dir = mkdtempSync(join(tmpdir(), 'sluice-command-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const file = (name: string) => join(dir, `${files++}-${name}`);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

async function until(check: () => boolean): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > 5000) assert.fail('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A script that writes its arguments and the SLUICE_ variables to the file named by its first argument. */
const record = `
  const [out, ...args] = process.argv.slice(1);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SLUICE_')));
  require('node:fs').writeFileSync(out, JSON.stringify({ args, env }));`;

describe('commandActuator', () => {
  it('runs the command with the count templated in, without a shell', async () => {
    const out = file('args.json');
    const actuator = commandActuator({
      command: [
        node,
        '-e',
        record,
        out,
        'scale',
        '--replicas={replicas}',
        '--current={previous}',
        'a b; echo $HOME',
      ],
      replicas: 3,
      env: { EXTRA: 'x' },
    });
    await actuator.scale(5);
    const seen = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(seen.args, ['scale', '--replicas=5', '--current=3', 'a b; echo $HOME']);
    assert.deepEqual(seen.env, { SLUICE_REPLICAS: '5', SLUICE_PREVIOUS_REPLICAS: '3' });
    assert.equal(actuator.name, `command:${node.split('/').at(-1)}`);
  });

  it('reports the given replicas, then the count of its last successful scale', async () => {
    const actuator = commandActuator({ command: [node, '-e', ''], replicas: 2 });
    assert.deepEqual(await actuator.capacity(), { desired: 2, ready: 2 });
    await actuator.scale(4);
    assert.deepEqual(await actuator.capacity(), { desired: 4, ready: 4 });
  });

  it('turns a non-zero exit into a CommandError with the tail of stderr, and keeps the old count', async () => {
    const script = `
      for (let i = 0; i < 500; i++) process.stderr.write('noise line ' + i + '\\n');
      process.stderr.write('error: deployments.apps "web" not found\\n');
      process.exitCode = 3;`;
    const actuator = commandActuator({
      command: [node, '-e', script, '{replicas}'],
      replicas: 2,
      name: 'kubectl',
    });
    const error = (await rejection(actuator.scale(6))) as CommandError;
    assert.ok(isCommandError(error), String(error));
    assert.equal(error.code, 'SLUICE_COMMAND_FAILED');
    assert.equal(error.exitCode, 3);
    assert.equal(error.signal, null);
    assert.equal(error.actuator, 'kubectl');
    assert.equal(error.operation, 'scale');
    assert.deepEqual(error.command.slice(-1), ['6']);
    assert.ok(error.stderr.length <= 4096);
    assert.match(error.stderr, /"web" not found\n$/);
    assert.match(error.message, /exited with code 3: .*deployments\.apps "web" not found$/);
    assert.deepEqual(await actuator.capacity(), { desired: 2, ready: 2 });
  });

  it('says when the program cannot be run', async () => {
    const actuator = commandActuator({ command: ['/nonexistent/kubectl', 'scale'], replicas: 1 });
    const error = await rejection(actuator.scale(2));
    assert.ok(isActuatorError(error));
    assert.match((error as Error).message, /cannot run \/nonexistent\/kubectl scale: .*ENOENT/);
  });

  it('kills a command that runs past timeoutMs: SIGTERM, then SIGKILL after a grace period', async () => {
    const started = file('started');
    const script = `
      process.on('SIGTERM', () => {});
      require('node:fs').writeFileSync(${JSON.stringify(started)}, '');
      setTimeout(() => {}, 60000);`;
    const clock = new VirtualClock();
    const actuator = commandActuator({ command: [node, '-e', script], replicas: 1, timeoutMs: 5000, clock });
    const pending = rejection(actuator.scale(2));
    await until(() => existsSync(started));
    clock.advance(5000);
    const error = await pending;
    assert.ok(isActuatorTimeoutError(error), String(error));
    assert.match((error as Error).message, /command .* timed out after 5000 ms/);
    // The child ignores SIGTERM; it is still running until the grace period ends.
    let closed = false;
    const gone = actuator.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(closed, false);
    clock.advance(2000);
    await gone;
    assert.equal(clock.pending, 0);
    assert.deepEqual(await actuator.capacity(), { desired: 1, ready: 1 });
  });

  it('kills the command and rejects with the caller reason when the caller aborts', async () => {
    const actuator = commandActuator({ command: [node, '-e', 'setTimeout(() => {}, 60000)'], replicas: 1 });
    const controller = new AbortController();
    const pending = rejection(actuator.scale(2, controller.signal));
    const reason = new Error('tick deadline');
    controller.abort(reason);
    assert.equal(await pending, reason);
    await actuator.close();
  });

  it('runs one command at a time, in the order asked', async () => {
    const log = file('log');
    const script = `
      const fs = require('node:fs');
      fs.appendFileSync(${JSON.stringify(log)}, 'start ' + process.argv[1] + '\\n');
      setTimeout(() => fs.appendFileSync(${JSON.stringify(log)}, 'end ' + process.argv[1] + '\\n'), 30);`;
    const actuator = commandActuator({ command: [node, '-e', script, '{replicas}'], replicas: 1 });
    await Promise.all([actuator.scale(2), actuator.scale(3), actuator.scale(4)]);
    assert.equal(readFileSync(log, 'utf8'), 'start 2\nend 2\nstart 3\nend 3\nstart 4\nend 4\n');
    assert.deepEqual(await actuator.capacity(), { desired: 4, ready: 4 });
  });

  it('does not start a queued command whose caller has given up', async () => {
    const log = file('log');
    const script = `require('node:fs').appendFileSync(${JSON.stringify(log)}, process.argv[1] + '\\n')`;
    const actuator = commandActuator({ command: [node, '-e', script, '{replicas}'], replicas: 1 });
    const first = actuator.scale(2);
    const controller = new AbortController();
    const second = rejection(actuator.scale(3, controller.signal));
    controller.abort(new Error('gave up'));
    await first;
    assert.match(String(await second), /gave up/);
    await actuator.close();
    assert.equal(readFileSync(log, 'utf8'), '2\n');
  });

  it('reads capacity from a capacity function, and checks its answer', async () => {
    let answer: unknown = { desired: 5, ready: 3 };
    const actuator = commandActuator({
      command: [node, '-e', ''],
      capacity: () => answer as { desired: number; ready: number },
    });
    assert.deepEqual(await actuator.capacity(), { desired: 5, ready: 3 });
    answer = { desired: 2 };
    const error = await rejection(actuator.capacity());
    assert.ok(isActuatorError(error));
    assert.match((error as Error).message, /expected \{ desired, ready \}/);
  });

  it('rejects invalid options naming the option', () => {
    const bad: [unknown, string][] = [
      [{ command: [], replicas: 1 }, 'command'],
      [{ command: 'kubectl scale', replicas: 1 }, 'command'],
      [{ command: ['kubectl', '--replicas={count}'], replicas: 1 }, 'command'],
      [{ command: ['kubectl'] }, 'replicas'],
      [{ command: ['kubectl'], replicas: -1 }, 'replicas'],
      [{ command: ['kubectl'], replicas: 1, timeoutMs: 0 }, 'timeoutMs'],
      [{ command: ['kubectl'], capacity: 5 }, 'capacity'],
    ];
    for (const [options, option] of bad) {
      assert.throws(
        () => commandActuator(options as never),
        (e) => isConfigError(e) && e.option === option,
        `${JSON.stringify(options)} names ${option}`,
      );
    }
  });
});
