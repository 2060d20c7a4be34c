import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

// The published package: what `npm run build` emits, reached through the exports map by name, as a user
// would. `npm test` builds before it runs the tests.
const built = existsSync(new URL('../dist/index.js', import.meta.url));

describe('the package', {
  skip: built ? false : 'dist/ is not built: run `npm run build` (npm test does)',
}, () => {
  it('exports the core, sluice/http, sluice/scale, sluice/sim and sluice/testing by name, with type declarations', () => {
    const script = `
      const core = await import('sluice');
      const scale = await import('sluice/scale');
      const sim = await import('sluice/sim');
      const testing = await import('sluice/testing');
      const http = await import('sluice/http');
      const clock = new testing.VirtualClock();
      const limiter = core.createLimiter({ clock, limit: 2 });
      console.log(JSON.stringify({
        limiter: typeof limiter.run,
        permit: limiter.tryAcquire() !== undefined,
        simulate: typeof sim.simulate,
        catalogue: sim.catalogue.length,
        fetch: typeof http.createFetch,
        guard: typeof core.guard,
        autoscaler: typeof scale.createAutoscaler,
        pool: typeof scale.createPool,
      }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), {
      limiter: 'function',
      permit: true,
      simulate: 'function',
      catalogue: 10,
      fetch: 'function',
      guard: 'function',
      autoscaler: 'function',
      pool: 'function',
    });
    for (const file of [
      'index.d.ts',
      'http/index.d.ts',
      'scale/index.d.ts',
      'sim/index.d.ts',
      'testing.d.ts',
    ]) {
      assert.ok(existsSync(new URL(`../dist/${file}`, import.meta.url)), `dist/${file}`);
    }
  });

  it('blocks deep imports of internals', () => {
    assert.throws(
      () =>
        execFileSync(
          process.execPath,
          ['--input-type=module', '-e', "await import('sluice/dist/limiter/queue.js')"],
          { stdio: 'pipe' },
        ),
      /ERR_PACKAGE_PATH_NOT_EXPORTED/,
    );
  });

  it('loads no package but itself when the core or sluice/scale is imported', () => {
    const script = `
      import { registerHooks } from 'node:module';
      const bare = [];
      registerHooks({
        resolve(specifier, context, next) {
          if (!specifier.startsWith('.') && !specifier.startsWith('node:') && !specifier.startsWith('file:')) bare.push(specifier);
          return next(specifier, context);
        },
      });
      await import('sluice');
      await import('sluice/scale');
      console.log(JSON.stringify(bare));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    // sluice/scale takes its service clients from the caller and loads @kubernetes/client-node on first use.
    assert.deepEqual(JSON.parse(out), ['sluice', 'sluice/scale']);
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    assert.deepEqual(
      Object.keys(pkg.dependencies ?? {}),
      ['undici', 'yaml'],
      'only the proxy (undici), the CLI and scenario files (yaml) have dependencies',
    );
  });
});
