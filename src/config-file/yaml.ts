import { readFile } from 'node:fs/promises';
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type YAMLError,
} from 'yaml';
import type { ConfigError } from '../core/errors.ts';
import type { FileLocation } from '../core/file-error.ts';

/**
 * Reads a config file as UTF-8. A file that cannot be read throws what `fail` makes of the reason
 * (`no such file`, `is a directory`, else the error).
 */
export async function readConfigFile(
  path: string,
  fail: (why: string, cause: unknown) => Error,
): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(error),
      error,
    );
  }
}

/** How `YamlSource.locate` walks a path. */
export interface LocateOptions {
  /** Point at the key of the last step rather than its value (an unknown option). */
  readonly key: boolean;
  /** Fall back to the whole document when not even the first step exists. */
  readonly orRoot: boolean;
  /** At a map, the longest run of names that is a key wins (`{ "0.5": 1 }` is reported as `x.0.5`). */
  readonly dottedKeys: boolean;
}

/** A parsed YAML (or JSON) config file, to turn option paths into lines, columns and excerpts. */
export class YamlSource {
  readonly doc: Document.Parsed;
  readonly #text: string;
  readonly #lines = new LineCounter();

  constructor(text: string) {
    this.#text = text;
    this.doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: false, uniqueKeys: true });
  }

  /** The first syntax error, if any. */
  get syntax(): YAMLError | undefined {
    return this.doc.errors[0];
  }

  /** The detail and location of a syntax error, where the parser stopped. */
  syntaxError(error: YAMLError, excerpt = true): { detail: string; where: FileLocation } {
    // Without prettyErrors the message is the bare description, e.g. "Map keys must be unique".
    const detail = `invalid YAML: ${error.message.replace(/\s+/g, ' ').trim()}`;
    return { detail, where: { ...this.at(error.pos, excerpt), cause: error } };
  }

  /** The location of `error` (its option as the path), at `range` when it is known. */
  locationOf(error: ConfigError, range: readonly [number, number] | undefined, excerpt = true): FileLocation {
    if (range === undefined) return { path: error.option, cause: error };
    return { path: error.option, ...this.at(range, excerpt), cause: error };
  }

  /** Line and column of `range`'s start, and when asked an excerpt with a caret under the range. */
  at(range: readonly [number, number], excerpt = true): { line: number; column: number; excerpt?: string } {
    const { line, col } = this.#lines.linePos(range[0]);
    return excerpt
      ? { line, column: col, excerpt: this.#excerpt(range[0], range[1]) }
      : { line, column: col };
  }

  /**
   * Source range of the value at `path` (of its key with `key`), or of its nearest ancestor present;
   * `undefined` when nothing on the path exists and `orRoot` is off.
   */
  locate(path: readonly (string | number)[], options: LocateOptions): [number, number] | undefined {
    const doc = this.doc;
    let node: Node | null | undefined = doc.contents;
    let found = path.length === 0 || options.orRoot ? rangeOf(node) : undefined;
    let i = 0;
    while (i < path.length && node != null) {
      if (isAlias(node)) node = node.resolve(doc);
      const step = path[i]!;
      if (isSeq(node) && typeof step === 'number') {
        const item = node.items[step];
        if (item === undefined) break;
        node = item as Node;
        found = rangeOf(node) ?? found;
        i++;
        continue;
      }
      if (!isMap(node)) break;
      const map = node;
      let matched = false;
      for (let j = options.dottedKeys ? path.length : i + 1; j > i && !matched; j--) {
        const slice = path.slice(i, j);
        if (slice.some((s) => typeof s === 'number')) continue;
        const name = slice.join('.');
        for (const pair of map.items) {
          const k = pair.key as Node | null;
          if (!isScalar(k) || String(k.value) !== name) continue;
          const value = pair.value as Node | null;
          found = (j === path.length && options.key ? rangeOf(k) : (rangeOf(value) ?? rangeOf(k))) ?? found;
          node = value;
          i = j;
          matched = true;
          break;
        }
      }
      if (!matched) break;
    }
    return found;
  }

  /** The line before the problem, its line, and a caret line under [start, end). */
  #excerpt(start: number, end: number): string {
    const { line, col } = this.#lines.linePos(start);
    const starts = this.#lines.lineStarts;
    const lineText = (n: number): string => {
      const from = starts[n - 1] ?? this.#text.length;
      const to = starts[n] ?? this.#text.length;
      return this.#text.slice(from, to).replace(/\r?\n$/, '');
    };
    const gutter = String(line).length;
    const out: string[] = [];
    for (let n = Math.max(1, line - 1); n <= line; n++) {
      out.push(`${String(n).padStart(gutter)} | ${lineText(n)}`);
    }
    const width = Math.max(1, Math.min(end - start, lineText(line).length - col + 1));
    out.push(`${' '.repeat(gutter)} | ${' '.repeat(col - 1)}${'^'.repeat(width)}`);
    return out.join('\n');
  }
}

function rangeOf(node: Node | null | undefined): [number, number] | undefined {
  const range = node?.range;
  return range == null ? undefined : [range[0], range[1]];
}

/** `workload[1].rate` as `["workload", 1, "rate"]`. */
export function tokens(path: string): (string | number)[] {
  return (path.match(/[^.[\]]+|\[\d+\]/g) ?? []).map((p) => (p.startsWith('[') ? Number(p.slice(1, -1)) : p));
}

const UNKNOWN = /^absent \(unknown option; known: (.*)\)$/;

/** Whether `error` is of an unknown option (one `checkKeys` found). */
export function isUnknownOption(error: ConfigError): boolean {
  return UNKNOWN.test(error.expected);
}

/**
 * `unknown option "x" (known: a, b)` for an unknown option, with `; did you mean "a"?` when `suggest`
 * and one known option is close; `undefined` for any other error.
 */
export function unknownOption(error: ConfigError, suggest = true): string | undefined {
  const known = UNKNOWN.exec(error.expected);
  if (known === null) return undefined;
  const plain = `unknown option "${error.option}" (known: ${known[1]})`;
  return suggest ? plain + suggestion(tokens(error.option).at(-1), known[1]!.split(', ')) : plain;
}

/** The message of `error` without its `sluice:` prefix. */
export function plainMessage(error: ConfigError): string {
  return error.message.replace(/^sluice: /, '');
}

function suggestion(typed: string | number | undefined, known: readonly string[]): string {
  if (typeof typed !== 'string') return '';
  const word = typed.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of known) {
    const d = distance(word, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : `; did you mean "${best}"?`;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}
