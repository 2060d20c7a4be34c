import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The guides' examples run: each runnable file under examples/guides/ exits 0 within its time budget.
// distributed-services.ts needs Redis, RabbitMQ, NATS and PostgreSQL clients and is only type-checked.
const dir = fileURLToPath(new URL('../../examples/guides/', import.meta.url));
const runnable = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'distributed-services.ts');
const run = promisify(execFile);

describe('the guides examples', () => {
  it('are all found', () => assert.ok(runnable.length >= 10, runnable.join(', ')));
  for (const file of runnable) {
    it(`run: examples/guides/${file}`, async () => {
      const { stderr } = await run(process.execPath, [dir + file], { timeout: 20_000 });
      assert.doesNotMatch(stderr, /Error|Warning/);
    });
  }
});
