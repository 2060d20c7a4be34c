import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type YAMLError,
} from 'yaml';
import type { ConfigError } from '../../core/errors.ts';
import { AutoscaleConfigError } from './errors.ts';

/** The parsed file, to turn option paths into lines. */
export class Source {
  readonly #file: string;
  readonly #text: string;
  readonly #doc: Document.Parsed;
  readonly #lines: LineCounter;

  constructor(file: string, text: string, doc: Document.Parsed, lines: LineCounter) {
    this.#file = file;
    this.#text = text;
    this.#doc = doc;
    this.#lines = lines;
  }

  /** The file error for a YAML syntax error, located where the parser stopped. */
  syntaxError(syntax: YAMLError): AutoscaleConfigError {
    const [start, end] = syntax.pos;
    const { line, col } = this.#lines.linePos(start);
    const detail = `invalid YAML: ${syntax.message.replace(/\s+/g, ' ').trim()}`;
    return new AutoscaleConfigError(this.#file, detail, {
      line,
      column: col,
      excerpt: this.#excerpt(start, end),
      cause: syntax,
    });
  }

  /** The file error for `error`, located at its option's path (the nearest node that exists, else the file). */
  error(error: ConfigError): AutoscaleConfigError {
    const known = /^absent \(unknown option; known: (.*)\)$/.exec(error.expected);
    const detail =
      known !== null
        ? `unknown option "${error.option}" (known: ${known[1]})${suggestion(error.option, known[1]!.split(', '))}`
        : error.option === ''
          ? `the file must hold ${error.expected}`
          : error.message.replace(/^sluice: /, '');
    const range = this.#locate(error.option, known !== null);
    if (range === undefined)
      return new AutoscaleConfigError(this.#file, detail, { path: error.option, cause: error });
    const { line, col } = this.#lines.linePos(range[0]);
    return new AutoscaleConfigError(this.#file, detail, {
      path: error.option,
      line,
      column: col,
      excerpt: this.#excerpt(range[0], range[1]),
      cause: error,
    });
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
    for (let n = Math.max(1, line - 1); n <= line; n++)
      out.push(`${String(n).padStart(gutter)} | ${lineText(n)}`);
    const width = Math.max(1, Math.min(end - start, lineText(line).length - col + 1));
    out.push(`${' '.repeat(gutter)} | ${' '.repeat(col - 1)}${'^'.repeat(width)}`);
    return out.join('\n');
  }

  /**
   * Source range of the value at `path` (of its key for an unknown option), or of its nearest ancestor;
   * `undefined` for a top-level option that is missing (pointing at the whole file says nothing).
   */
  #locate(path: string, key: boolean): [number, number] | undefined {
    const steps = (path.match(/[^.[\]]+|\[\d+\]/g) ?? []).map((p) =>
      p.startsWith('[') ? Number(p.slice(1, -1)) : p,
    );
    let node: Node | null | undefined = this.#doc.contents;
    let found = steps.length === 0 ? rangeOf(node) : undefined;
    for (let i = 0; i < steps.length && node != null; i++) {
      if (isAlias(node)) node = node.resolve(this.#doc);
      const step = steps[i]!;
      if (isSeq(node) && typeof step === 'number') {
        node = node.items[step] as Node | undefined;
        found = rangeOf(node) ?? found;
        continue;
      }
      if (!isMap(node)) break;
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
      if (pair === undefined) break;
      const k = pair.key as Node;
      const v = pair.value as Node | null;
      found = (i === steps.length - 1 && key ? rangeOf(k) : (rangeOf(v) ?? rangeOf(k))) ?? found;
      node = v;
    }
    return found;
  }
}

function rangeOf(node: Node | null | undefined): [number, number] | undefined {
  const range = node?.range;
  return range == null ? undefined : [range[0], range[1]];
}

/** `; did you mean "target"?` for a misspelt option, when one known option is close. */
function suggestion(option: string, known: readonly string[]): string {
  const typed = option.slice(option.lastIndexOf('.') + 1).toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(typed.length / 3)) + 1;
  for (const candidate of known) {
    const d = distance(typed, candidate.toLowerCase());
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
      row.push(
        Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}
