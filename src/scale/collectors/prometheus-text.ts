/**
 * The Prometheus text exposition format (version 0.0.4, and the OpenMetrics 1.0 text that shares its
 * sample syntax), and series selectors in PromQL's syntax, as far as a collector needs them: samples with
 * their labels and values, the metric types that say which samples are cumulative, and label matchers.
 *
 * Metric and label names may be quoted (the UTF-8 names of Prometheus 3): `{"my.metric", "a.b"="x"} 1`.
 */

export type MetricType =
  | 'counter'
  | 'gauge'
  | 'histogram'
  | 'gaugehistogram'
  | 'summary'
  | 'info'
  | 'stateset'
  | 'untyped'
  | 'unknown';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** `# TYPE` declarations by metric family name. */
  readonly types: ReadonlyMap<string, MetricType>;
}

/** A malformed exposition or selector; the message names the line or the position. */
export class PrometheusSyntaxError extends Error {
  override readonly name = 'PrometheusSyntaxError';
}

const TYPES = new Set<string>([
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
  'untyped',
  'unknown',
]);

/** Parses an exposition. Throws a `PrometheusSyntaxError` naming the first malformed line. */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, MetricType>();
  let start = 0;
  let lineNo = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, text.charCodeAt(end - 1) === 13 ? end - 1 : end);
    start = end + 1;
    lineNo++;
    const first = firstNonBlank(line);
    if (first === -1) continue;
    if (line.charCodeAt(first) === 35 /* # */) {
      const words = line
        .slice(first + 1)
        .trim()
        .split(/\s+/);
      if (words[0] === 'EOF') break;
      if (words[0] === 'TYPE' && words.length >= 3) {
        const type = words[2]!.toLowerCase();
        types.set(unquote(words[1]!), TYPES.has(type) ? (type as MetricType) : 'unknown');
      }
      continue;
    }
    try {
      samples.push(parseSample(line, first));
    } catch (error) {
      const why = error instanceof PrometheusSyntaxError ? error.message : String(error);
      throw new PrometheusSyntaxError(`line ${lineNo}: ${why}: ${JSON.stringify(cut(line))}`);
    }
  }
  return { samples, types };
}

/**
 * True when the sample counts up over time, so that its per-second rate is the useful figure: counters,
 * and the `_bucket`, `_count` and `_sum` series of histograms and summaries. Samples of undeclared
 * families are gauges.
 */
export function isCumulative(name: string, types: ReadonlyMap<string, MetricType>): boolean {
  const own = types.get(name);
  if (own !== undefined) return own === 'counter';
  for (const suffix of ['_total', '_bucket', '_count', '_sum']) {
    if (!name.endsWith(suffix)) continue;
    const family = types.get(name.slice(0, -suffix.length));
    if (family === 'counter') return suffix === '_total';
    if (family === 'histogram') return suffix !== '_total';
    if (family === 'summary') return suffix === '_count' || suffix === '_sum';
  }
  return false;
}

/**
 * True for the samples that read well when summed by name in a collector's default mode: not histogram
 * buckets, summary quantiles, `_created` timestamps or gauge-histogram buckets.
 */
export function isPlainSample(sample: Sample, types: ReadonlyMap<string, MetricType>): boolean {
  const { name } = sample;
  if (name.endsWith('_created')) return false;
  if (name.endsWith('_bucket')) {
    const family = types.get(name.slice(0, -'_bucket'.length));
    if (family === 'histogram' || family === 'gaugehistogram') return false;
  }
  return !(types.get(name) === 'summary' && 'quantile' in sample.labels);
}

// --- selectors --------------------------------------------------------------------------------------

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  readonly label: string;
  readonly op: MatchOp;
  readonly value: string;
  /** For `=~` and `!~`: the pattern, anchored at both ends as in PromQL. */
  readonly regex?: RegExp;
}

export interface Selector {
  /** Matchers, the metric name as `__name__ = "..."` among them. */
  readonly matchers: readonly Matcher[];
}

/**
 * Parses a series selector: `name`, `name{label="v", other=~"a|b"}`, `{__name__=~"x_.*"}` or, with a
 * quoted UTF-8 name, `{"my.metric", code!="200"}`. Throws a `PrometheusSyntaxError`.
 */
export function parseSelector(text: string): Selector {
  const s = new Scanner(text.trim(), 0, `"'`);
  const matchers: Matcher[] = [];
  if (s.peek() !== '{') matchers.push({ label: '__name__', op: '=', value: s.identifier(true) });
  s.blanks();
  if (s.peek() === '{') {
    s.pos++;
    for (;;) {
      s.blanks();
      if (s.peek() === '}') break;
      const quoted = s.peek() === '"' || s.peek() === "'";
      const label = quoted ? s.quoted() : s.identifier(false);
      s.blanks();
      const c = s.peek();
      if (quoted && (c === ',' || c === '}')) {
        matchers.push({ label: '__name__', op: '=', value: label });
      } else {
        const op = s.operator();
        s.blanks();
        const value = s.quoted();
        matchers.push(
          op === '=~' || op === '!~' ? { label, op, value, regex: anchored(value) } : { label, op, value },
        );
      }
      s.blanks();
      if (s.peek() === ',') s.pos++;
      else if (s.peek() !== '}') s.fail('expected "," or "}"');
    }
    s.pos++;
    s.blanks();
  }
  if (s.pos < s.text.length) s.fail('unexpected text after the selector');
  if (!matchers.some((m) => m.label === '__name__') && matchers.every((m) => matchesEmpty(m))) {
    throw new PrometheusSyntaxError(
      'a selector needs a metric name or a matcher that does not match the empty string',
    );
  }
  return { matchers };
}

/** True when `sample` satisfies every matcher of `selector`. An absent label reads as the empty string. */
export function matches(selector: Selector, sample: Sample): boolean {
  for (const m of selector.matchers) {
    const value = m.label === '__name__' ? sample.name : (sample.labels[m.label] ?? '');
    if (!test(m, value)) return false;
  }
  return true;
}

/** A stable identity for a series: its name and sorted labels. */
export function seriesKey(sample: Sample): string {
  const keys = Object.keys(sample.labels).sort();
  let key = sample.name;
  for (const k of keys) key += `\u0000${k}\u0001${sample.labels[k]}`;
  return key;
}

function test(m: Matcher, value: string): boolean {
  switch (m.op) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return m.regex!.test(value);
    case '!~':
      return !m.regex!.test(value);
  }
}

function matchesEmpty(m: Matcher): boolean {
  return test(m, '');
}

function anchored(pattern: string): RegExp {
  try {
    // `s`: as in Prometheus, `.` matches a newline too.
    return new RegExp(`^(?:${pattern})$`, 's');
  } catch (error) {
    throw new PrometheusSyntaxError(
      `invalid regular expression ${JSON.stringify(pattern)}: ${String(error)}`,
    );
  }
}

// --- samples ----------------------------------------------------------------------------------------

function parseSample(line: string, from: number): Sample {
  const s = new Scanner(line, from);
  let name = s.peek() === '{' ? '' : s.identifier(true);
  const labels: Record<string, string> = {};
  let spaced = s.blanks();
  if (s.peek() === '{') {
    s.pos++;
    for (;;) {
      s.blanks();
      if (s.peek() === '}') break;
      const quoted = s.peek() === '"';
      const label = quoted ? s.quoted() : s.identifier(false);
      s.blanks();
      const c = s.peek();
      if (quoted && name === '' && (c === ',' || c === '}')) {
        name = label;
      } else {
        s.expect('=');
        s.blanks();
        labels[label] = s.quoted();
      }
      s.blanks();
      if (s.peek() === ',') s.pos++;
      else if (s.peek() !== '}') s.fail('expected "," or "}"');
    }
    s.pos++;
    spaced = s.blanks();
  }
  if (name === '') s.fail('no metric name');
  if (!spaced) s.fail('expected a space before the value');
  const value = parseValue(s.word());
  if (value === undefined) s.fail('invalid value');
  // A timestamp or an OpenMetrics exemplar may follow; a collector reads neither.
  return { name, labels, value: value! };
}

function parseValue(word: string): number | undefined {
  switch (word) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (word === '' || !/^[-+]?(?:\d|\.\d)/.test(word)) return undefined;
  const n = Number(word);
  return Number.isNaN(n) ? undefined : n;
}

class Scanner {
  readonly text: string;
  pos: number;
  /** Quote characters a string may open with: the exposition format knows `"`, PromQL also `'`. */
  readonly #quotes: string;

  constructor(text: string, pos = 0, quotes = '"') {
    this.text = text;
    this.pos = pos;
    this.#quotes = quotes;
  }

  peek(): string {
    return this.text.charAt(this.pos);
  }

  /** Skips spaces and tabs; true if it skipped any. */
  blanks(): boolean {
    const from = this.pos;
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
    return this.pos > from;
  }

  /** A metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or, without colons, a label name. */
  identifier(metric: boolean): string {
    const re = metric ? /[a-zA-Z_:][a-zA-Z0-9_:]*/y : /[a-zA-Z_][a-zA-Z0-9_]*/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (m === null) this.fail(metric ? 'expected a metric name' : 'expected a label name');
    this.pos = re.lastIndex;
    return m![0];
  }

  /** A quoted string with `\\`, `\"` and `\n` escapes. */
  quoted(): string {
    const quote = this.peek();
    if (quote === '' || !this.#quotes.includes(quote)) this.fail('expected a quoted string');
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.text.charAt(this.pos++);
      if (c === '') this.fail('unterminated string');
      if (c === quote) return out;
      if (c === '\\') {
        const e = this.text.charAt(this.pos++);
        out += e === 'n' ? '\n' : e;
      } else {
        out += c;
      }
    }
  }

  operator(): MatchOp {
    for (const op of ['=~', '!~', '!=', '='] as const) {
      if (this.text.startsWith(op, this.pos)) {
        this.pos += op.length;
        return op;
      }
    }
    return this.fail('expected one of =, !=, =~, !~');
  }

  /** Characters up to the next blank or the end. */
  word(): string {
    const from = this.pos;
    while (this.pos < this.text.length && this.peek() !== ' ' && this.peek() !== '\t') this.pos++;
    return this.text.slice(from, this.pos);
  }

  expect(c: string): void {
    if (this.peek() !== c) this.fail(`expected ${JSON.stringify(c)}`);
    this.pos++;
  }

  fail(what: string): never {
    const found = this.pos < this.text.length ? JSON.stringify(this.text.charAt(this.pos)) : 'the end';
    throw new PrometheusSyntaxError(`${what} at column ${this.pos + 1}, found ${found}`);
  }
}

function firstNonBlank(line: string): number {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9) return i;
  }
  return -1;
}

function unquote(word: string): string {
  return word.length >= 2 && word.startsWith('"') && word.endsWith('"') ? word.slice(1, -1) : word;
}

function cut(line: string): string {
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}
