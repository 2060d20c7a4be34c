import assert from 'node:assert/strict';
import { isConfigError } from '../../src/core/errors.ts';

/** Asserts |actual - expected| <= tolerance. */
export function within(
  actual: number | null | undefined,
  expected: number,
  tolerance: number,
  what = '',
): void {
  assert.ok(
    typeof actual === 'number' && Math.abs(actual - expected) <= tolerance,
    `${what ? `${what}: ` : ''}expected ${expected} ± ${tolerance}, got ${actual}`,
  );
}

/** Asserts that `promise` rejects (or `fn` throws) a ConfigError for `option`. */
export async function rejectsOption(run: () => unknown, option: string): Promise<void> {
  await assert.rejects(
    async () => run(),
    (e: unknown) => {
      assert.ok(isConfigError(e), `expected a ConfigError, got ${String(e)}`);
      assert.equal(e.option, option);
      return true;
    },
  );
}

/** Sum of an array. */
export function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
