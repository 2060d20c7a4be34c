import { ConfigError } from '../core/errors.ts';
import { func } from '../core/validate.ts';
import { type GuardOptions, guard } from './guard.ts';
import type { CallOptions, Policy } from './policy.ts';

/** An async method: the only kind a policy can guard, since guarding makes every call asynchronous. */
export type AsyncMethod<This, A extends unknown[], R> = (this: This, ...args: A) => Promise<R>;

export interface GuardedOptions<A extends unknown[]> {
  /**
   * Derives each call's options (the caller's signal, deadline and priority) from its arguments, e.g.
   * `(id: string, signal?: AbortSignal) => ({ signal })`; `this` is the instance. Default: none.
   */
  readonly callOptions?: (...args: A) => CallOptions | undefined;
}

/** The decorator `guarded` returns: it replaces an async method with its guarded form. */
export type GuardedDecorator = <This, A extends unknown[], R>(
  method: AsyncMethod<This, A, R>,
  context: ClassMethodDecoratorContext<This, AsyncMethod<This, A, R>>,
) => AsyncMethod<This, A, R>;

/** The decorator `guarded` returns when given `callOptions` over the arguments `A`. */
export type GuardedDecoratorFor<A extends unknown[]> = <This, R>(
  method: AsyncMethod<This, A, R>,
  context: ClassMethodDecoratorContext<This, AsyncMethod<This, A, R>>,
) => AsyncMethod<This, A, R>;

/**
 * A standard (TC39, TypeScript 5+) method decorator that runs every call of the method through `policy`:
 * a `guard(...)`, any single policy, or `GuardOptions` to build a standard guard with. One policy serves
 * the method for every instance of the class, as one dependency sits behind it; decorate with a policy
 * built per instance elsewhere if instances call different dependencies.
 *
 * The method must return a promise (the type checker refuses a synchronous one). It does not receive the
 * policies' `CallContext`: a method that must pass the timeout's signal downstream should call
 * `policy.execute` itself.
 *
 * ```ts
 * class Payments {
 *   @guarded(guard({ timeout: 2000 }), { callOptions: (_id: string, signal?: AbortSignal) => ({ signal }) })
 *   async charge(id: string, signal?: AbortSignal): Promise<Receipt> { ... }
 * }
 * ```
 *
 * Needs a compiler that implements standard decorators (TypeScript with `experimentalDecorators` off, the
 * default); Node's type stripping alone cannot run decorator syntax.
 */
export function guarded(policy: Policy | GuardOptions): GuardedDecorator;
export function guarded<A extends unknown[]>(
  policy: Policy | GuardOptions,
  options: GuardedOptions<A>,
): GuardedDecoratorFor<A>;
export function guarded(
  policy: Policy | GuardOptions,
  options: GuardedOptions<never> = {},
): GuardedDecorator {
  const p: Policy =
    typeof policy === 'object' && policy !== null && typeof (policy as Policy).execute === 'function'
      ? (policy as Policy)
      : guard(policy as GuardOptions);
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('options', options, 'an object { callOptions? }');
  }
  const derive =
    options.callOptions === undefined
      ? undefined
      : func<(...args: unknown[]) => CallOptions | undefined>('callOptions', options.callOptions);
  return <This, A extends unknown[], R>(
    method: AsyncMethod<This, A, R>,
    context: ClassMethodDecoratorContext<This, AsyncMethod<This, A, R>>,
  ): AsyncMethod<This, A, R> => {
    if (context?.kind !== 'method') {
      throw new ConfigError('@guarded', context?.kind, 'applied to a class method');
    }
    func('@guarded method', method);
    const replacement = function (this: This, ...args: A): Promise<R> {
      let callOptions: CallOptions | undefined;
      try {
        callOptions = derive?.apply(this, args);
      } catch (error) {
        return Promise.reject(error);
      }
      return p.execute(() => method.apply(this, args), callOptions);
    };
    Object.defineProperty(replacement, 'name', { value: method.name, configurable: true });
    return replacement;
  };
}
