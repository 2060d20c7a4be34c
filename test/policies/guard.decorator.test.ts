import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { isConfigError } from '../../src/core/errors.ts';
import { guarded } from '../../src/policies/decorator.ts';
import { guard } from '../../src/policies/guard.ts';
import { type CallContext, type CallOptions, contextOf, type Policy } from '../../src/policies/policy.ts';
import type * as Fixture from '../fixtures/decorated.ts';

/*
 * Node's type stripping cannot run decorators, so the fixture is compiled by TypeScript (the `tsc` of the
 * devDependency, whose native compiler has no in-process API) into a temporary directory, its relative
 * imports pointed back at the sources, and imported from there. The type checker also checks the fixture,
 * since tsconfig.json includes test/: a decorator on a synchronous method, or `callOptions` that do not
 * match the method's parameters, fail the type check.
 */

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const fixture = resolve(here, '../fixtures/decorated.ts');
const tsc = resolve(root, 'node_modules/typescript/bin/tsc');

let dir = '';
let compiled: typeof Fixture | undefined;
let skip: string | false = false;

before(async () => {
  if (!existsSync(tsc)) {
    skip = 'typescript is not installed';
    return;
  }
  dir = await mkdtemp(join(tmpdir(), 'sluice-decorated-'));
  const out = join(dir, 'out');
  // Run from the temporary directory, so tsc finds no tsconfig.json and compiles just the file given;
  // --noResolve and --noCheck: the imports are the sources', resolved by Node at run time.
  await promisify(execFile)(
    process.execPath,
    [
      tsc,
      fixture,
      '--outDir',
      out,
      '--target',
      'es2022',
      '--module',
      'esnext',
      '--noResolve',
      '--noCheck',
      '--skipLibCheck',
      '--types',
      '',
    ],
    { cwd: dir, timeout: 30_000 },
  );
  const js = await readFile(join(out, 'decorated.js'), 'utf8');
  const fixtures = dirname(fixture);
  const linked = js.replace(
    /(from\s*)(['"])(\.{1,2}\/[^'"]+)\2/g,
    (_, from: string, quote: string, spec: string) =>
      `${from}${quote}${pathToFileURL(resolve(fixtures, spec)).href}${quote}`,
  );
  const file = join(dir, 'decorated.mjs');
  await writeFile(file, linked);
  compiled = (await import(pathToFileURL(file).href)) as typeof Fixture;
});

after(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

/** A policy that records each call's options and context. */
function spy() {
  const calls: CallOptions[] = [];
  const policy: Policy = {
    name: 'spy',
    async execute<T>(fn: (context: CallContext) => T | PromiseLike<T>, options?: CallOptions): Promise<T> {
      calls.push(contextOf(options));
      return fn(contextOf(options));
    },
  };
  return { policy, calls };
}

describe('@guarded (standard decorators)', () => {
  it('runs each call of the method through the policy, with its instance and arguments', async (t) => {
    if (skip !== false || compiled === undefined) return t.skip(String(skip));
    const { policy, calls } = spy();
    const Service = compiled.defineService(policy);
    const a = new Service('hello');
    const b = new Service('hi');
    assert.equal(await a.greet('ada'), 'hello ada');
    assert.equal(await b.greet('bob'), 'hi bob');
    assert.deepEqual(a.seen, ['ada']);
    assert.deepEqual(b.seen, ['bob']);
    assert.equal(calls.length, 2);
    assert.equal(a.greet.name, 'greet');
  });

  it('derives call options from the arguments', async (t) => {
    if (skip !== false || compiled === undefined) return t.skip(String(skip));
    const { policy, calls } = spy();
    const service = new (compiled.defineService(policy))('x');
    const signal = new AbortController().signal;
    assert.equal(await service.load('42', signal), 'loaded 42');
    assert.deepEqual(calls, [{ signal, deadline: undefined, attempt: 0, priority: 'high' }]);
  });

  it('guards static methods, and passes errors through', async (t) => {
    if (skip !== false || compiled === undefined) return t.skip(String(skip));
    const { policy, calls } = spy();
    const Service = compiled.defineService(policy);
    assert.equal(await Service.ping(), 'pong');
    await assert.rejects(new Service('s').fail(), /s failed/);
    assert.equal(calls.length, 2);
  });

  it('refuses calls the policy refuses: the method does not run', async (t) => {
    if (skip !== false || compiled === undefined) return t.skip(String(skip));
    const closed: Policy = { name: 'closed', execute: () => Promise.reject(new Error('refused')) };
    const service = new (compiled.defineService(closed))('x');
    await assert.rejects(service.greet('ada'), /refused/);
    assert.deepEqual(service.seen, []);
  });

  it('builds a standard guard from guard options', async (t) => {
    if (skip !== false || compiled === undefined) return t.skip(String(skip));
    const counter = new compiled.Counter();
    assert.equal(await counter.increment(2), 2);
    assert.equal(await counter.increment(3), 5);
  });

  it('works with a guard, applied by hand as a decorator is', async () => {
    const decorate = guarded(guard(), { callOptions: (n: number) => ({ priority: n }) });
    const method = async function (this: { base: number }, n: number): Promise<number> {
      return this.base + n;
    };
    const replaced = decorate(method, { kind: 'method', name: 'add' } as ClassMethodDecoratorContext<
      { base: number },
      typeof method
    >);
    assert.equal(await replaced.call({ base: 40 }, 2), 42);
  });

  it('rejects a use other than on a method, and a bad policy or options', () => {
    const decorate = guarded(guard());
    const field = { kind: 'field', name: 'x' } as unknown as ClassMethodDecoratorContext<
      unknown,
      () => Promise<void>
    >;
    assert.throws(
      () => decorate(async () => {}, field),
      (e) => isConfigError(e) && e.option === '@guarded',
    );
    assert.throws(() => guarded(guard(), null as never), isConfigError);
    assert.throws(() => guarded(guard(), { callOptions: 1 as never }), isConfigError);
    assert.throws(() => guarded({ timeout: -5 }), isConfigError);
  });
});
