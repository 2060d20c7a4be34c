import { ConfigError } from '../core/errors.ts';
import { PriorityLevels } from '../limiter/priority-levels.ts';
import type { Priority } from '../limiter/types.ts';

/**
 * Priority classes per route. A route names a path pattern, optionally the methods it covers, and the
 * priority its requests take in the limiter's queue. Routes are tried in order and the first match wins,
 * so specific routes go before general ones; a request no route matches takes the default priority.
 *
 * Path patterns:
 * - without `*`, a prefix on segment boundaries: `/api` matches `/api`, `/api/` and `/api/users`, not
 *   `/apix`; `/` matches every path;
 * - with `*`, a glob over the whole path: `*` matches within one segment (no `/`), `**` matches across
 *   segments (`/api/*` matches `/api/users`, not `/api/users/7`; `/api/**` matches both).
 *
 * The query string is not part of the path.
 */
export interface RouteSpec {
  /** Path pattern: a prefix, or a glob with `*` and `**`. Must start with `/`. */
  readonly path: string;
  /** Methods covered (case-insensitive); default all. */
  readonly methods?: readonly string[];
  /** Priority of matching requests: a level name (see `priorities`) or index. */
  readonly priority: Priority;
}

/** A compiled route: its spec and the level index it maps to. */
export interface Route {
  readonly spec: RouteSpec;
  /** Level index in the limiter (0 is the most important). */
  readonly level: number;
}

interface Compiled {
  readonly route: Route;
  readonly methods: ReadonlySet<string> | undefined;
  readonly prefix: string | undefined;
  readonly glob: RegExp | undefined;
}

/** An ordered route table. Matching is synchronous and allocates nothing beyond the path slice. */
export class RouteTable {
  readonly #routes: readonly Compiled[];
  /** Level of a request no route matches. */
  readonly defaultLevel: number;

  /**
   * Compiles `routes` against the limiter's priority levels (`priorities`, as in `LimiterOptions`).
   * Throws a `ConfigError` naming `routes[i].<field>` for a bad entry, `option` prefixing the paths.
   */
  constructor(
    routes: readonly RouteSpec[],
    options: {
      readonly priorities?: number | readonly string[] | undefined;
      readonly defaultPriority?: Priority | undefined;
      readonly option?: string;
    } = {},
  ) {
    const at = options.option ?? 'routes';
    const levels = new PriorityLevels('priorities', options.priorities);
    this.defaultLevel =
      options.defaultPriority === undefined
        ? levels.defaultLevel
        : levels.index(options.defaultPriority, 'defaultPriority');
    if (!Array.isArray(routes)) throw new ConfigError(at, routes, 'a list of routes ({ path, priority })');
    this.#routes = routes.map((spec: unknown, i) => compile(`${at}[${i}]`, spec, levels));
  }

  get size(): number {
    return this.#routes.length;
  }

  /** The first route matching `method` and `path` (without its query), or `undefined`. */
  match(method: string, path: string): Route | undefined {
    for (const c of this.#routes) {
      if (c.methods !== undefined && !c.methods.has(method.toUpperCase())) continue;
      if (c.prefix !== undefined ? matchesPrefix(c.prefix, path) : c.glob!.test(path)) return c.route;
    }
    return undefined;
  }

  /** Level index for a request: its route's, or the default. `url` may carry a query string. */
  level(method: string, url: string): number {
    const q = url.indexOf('?');
    return this.match(method, q < 0 ? url : url.slice(0, q))?.level ?? this.defaultLevel;
  }
}

const routeKeys = ['path', 'methods', 'priority'];

function compile(at: string, spec: unknown, levels: PriorityLevels): Compiled {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new ConfigError(at, spec, 'a route: { path, methods?, priority }');
  }
  const s = spec as Record<string, unknown>;
  for (const key of Object.keys(s)) {
    if (!routeKeys.includes(key)) {
      throw new ConfigError(
        `${at}.${key}`,
        s[key],
        `absent (unknown option; known: ${routeKeys.join(', ')})`,
      );
    }
  }
  const path = s['path'];
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new ConfigError(
      `${at}.path`,
      path,
      'a path pattern starting with "/" (a prefix, or a glob with *)',
    );
  }
  let methods: Set<string> | undefined;
  if (s['methods'] !== undefined) {
    const m = s['methods'];
    if (
      !Array.isArray(m) ||
      m.length === 0 ||
      !m.every((x) => typeof x === 'string' && /^[A-Za-z]+$/.test(x))
    ) {
      throw new ConfigError(`${at}.methods`, m, 'a non-empty list of HTTP method names');
    }
    methods = new Set(m.map((x: string) => x.toUpperCase()));
  }
  if (s['priority'] === undefined) {
    throw new ConfigError(`${at}.priority`, undefined, 'a priority level name or index');
  }
  const level = levels.index(s['priority'] as Priority, `${at}.priority`);
  const route: Route = { spec: s as unknown as RouteSpec, level };
  if (!path.includes('*')) {
    // A trailing slash is not needed to stay on segment boundaries: `/api/` and `/api` behave alike.
    const prefix = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    return { route, methods, prefix, glob: undefined };
  }
  return { route, methods, prefix: undefined, glob: globToRegExp(path) };
}

function matchesPrefix(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47; // '/'
}

function globToRegExp(glob: string): RegExp {
  let source = '^';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        source += '.*';
        i++;
      } else {
        source += '[^/]*';
      }
    } else {
      source += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`${source}$`);
}
