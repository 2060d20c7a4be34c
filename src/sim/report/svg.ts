import { escapeHtml } from './escape.ts';

/** One line of a chart. */
export interface ChartLine {
  readonly label: string;
  /** A CSS colour. */
  readonly color: string;
  /** One value per point of the chart's `x`; null leaves a gap. */
  readonly values: readonly (number | null)[];
  /** Drawn dashed (a secondary measure, such as p50 beside p99). Default false. */
  readonly dashed?: boolean;
}

export interface LineChartOptions {
  readonly title: string;
  /** Unit of the y axis, shown beside the title (`requests/s`, `ms`). */
  readonly unit: string;
  /** Position of each point on the x axis, in seconds. */
  readonly x: readonly number[];
  /** End of the x axis, in seconds. */
  readonly xMax: number;
  readonly lines: readonly ChartLine[];
  /** Size of the drawing in SVG units (it scales to its container). Default 640 x 240. */
  readonly width?: number;
  readonly height?: number;
  /**
   * Index of the chart's data for a hover script: adds the plot geometry as `data-*` attributes and a
   * hidden `.cursor` line. Default none (a static chart).
   */
  readonly interactive?: number;
}

const MARGIN = { left: 52, right: 14, top: 30, bottom: 30 } as const;

/**
 * A line chart as an inline SVG element: no script, no external resources, no namespace URL (HTML
 * parses inline `<svg>` without one). Text is escaped; coordinates are rounded to keep the file small.
 * The y axis starts at 0 and ends at a round number above the largest value.
 */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 240;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  let top = 0;
  for (const line of options.lines) for (const v of line.values) if (v !== null && v > top) top = v;
  const yStep = niceStep(top > 0 ? top / 4 : 1);
  const yMax = Math.max(yStep, Math.ceil((top * 1.02) / yStep) * yStep);
  const xMax = options.xMax > 0 ? options.xMax : 1;
  const xStep = niceStep(xMax / 8);
  const sx = (x: number): number => MARGIN.left + (x / xMax) * plotW;
  const sy = (y: number): number => MARGIN.top + plotH - (Math.min(y, yMax) / yMax) * plotH;

  const hover =
    options.interactive === undefined
      ? ''
      : ` data-chart="${options.interactive}" data-left="${MARGIN.left}" data-plot="${plotW}"` +
        ` data-width="${width}" data-xmax="${xMax}"`;
  const parts: string[] = [
    `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(options.title)}"${hover}>`,
    `<text class="title" x="${MARGIN.left}" y="18">${escapeHtml(options.title)}` +
      `<tspan class="unit" dx="8">${escapeHtml(options.unit)}</tspan></text>`,
  ];
  for (let k = 0; k * yStep <= yMax + yStep / 2; k++) {
    const y = k * yStep;
    const py = round(sy(y));
    parts.push(
      `<line class="grid" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${py}" y2="${py}"/>`,
      `<text class="tick" x="${MARGIN.left - 6}" y="${py + 4}" text-anchor="end">${tick(y, yStep)}</text>`,
    );
  }
  for (let k = 0; k * xStep <= xMax + xStep / 100; k++) {
    const x = k * xStep;
    const px = round(sx(x));
    parts.push(
      `<line class="axis" x1="${px}" x2="${px}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 4}"/>`,
      `<text class="tick" x="${px}" y="${height - 10}" text-anchor="middle">${tick(x, xStep)} s</text>`,
    );
  }
  parts.push(
    `<line class="axis" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}"/>`,
  );
  for (const line of options.lines) {
    const d = pathData(options.x, line.values, sx, sy);
    if (d === '') continue;
    const dash = line.dashed === true ? ' stroke-dasharray="5 4"' : '';
    parts.push(
      `<path class="line" d="${d}" stroke="${escapeHtml(line.color)}"${dash}>` +
        `<title>${escapeHtml(line.label)}</title></path>`,
    );
  }
  if (options.interactive !== undefined) {
    parts.push(`<line class="cursor" x1="0" x2="0" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}"/>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** `M x y L x y ...`, starting a new subpath after every gap; a lone point becomes a dot. */
function pathData(
  xs: readonly number[],
  ys: readonly (number | null)[],
  sx: (x: number) => number,
  sy: (y: number) => number,
): string {
  let d = '';
  let open = false;
  let run = 0;
  const n = Math.min(xs.length, ys.length);
  for (let i = 0; i < n; i++) {
    const y = ys[i];
    if (y == null || !Number.isFinite(y)) {
      if (open && run === 1) d += 'h0.1';
      open = false;
      continue;
    }
    const point = `${round(sx(xs[i]!))} ${round(sy(y))}`;
    d += open ? `L${point}` : `M${point}`;
    run = open ? run + 1 : 1;
    open = true;
  }
  if (open && run === 1) d += 'h0.1';
  return d;
}

/** A step of 1, 2 or 5 times a power of ten, at least `rough`. */
export function niceStep(rough: number): number {
  if (!(rough > 0) || !Number.isFinite(rough)) return 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  const f = rough / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/** A tick label with as many decimals as the step needs: `0.25`, `10`, `1,000`. */
function tick(value: number, step: number): string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
