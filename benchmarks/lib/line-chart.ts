/**
 * A self-contained SVG line chart (no scripts, no network), for benchmark reports: series of (x, y) points
 * on shared axes, optional dashed reference lines, and vertical markers with labels.
 */

export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
  /** Drawn dashed, as a reference rather than a measurement. */
  readonly dashed?: boolean;
}

export interface ChartMarker {
  readonly x: number;
  readonly label: string;
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
  readonly markers?: readonly ChartMarker[];
  readonly width?: number;
  readonly height?: number;
}

const xml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A step that is a round number near `span / 6`, for ticks. */
function tickStep(span: number): number {
  const raw = span / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * power;
}

/** Renders the chart as an SVG document. */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 960;
  const height = options.height ?? 420;
  const left = 60;
  const right = 180;
  const top = 40;
  const bottom = 50;
  const all = options.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x + y));
  const xMax = Math.max(1, ...all.map(([x]) => x));
  const yMax = Math.max(1, ...all.map(([, y]) => y)) * 1.05;
  const sx = (x: number): number => left + (x / xMax) * (width - left - right);
  const sy = (y: number): number => top + (1 - y / yMax) * (height - top - bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${xml(options.title)}</text>`,
  ];
  const yStep = tickStep(yMax);
  for (let y = 0; y <= yMax; y += yStep) {
    out.push(
      `<line x1="${left}" x2="${width - right}" y1="${sy(y)}" y2="${sy(y)}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${sy(y) + 4}" text-anchor="end">${+y.toFixed(6)}</text>`,
    );
  }
  const xStep = tickStep(xMax);
  for (let x = 0; x <= xMax; x += xStep) {
    out.push(`<text x="${sx(x)}" y="${height - bottom + 16}" text-anchor="middle">${+x.toFixed(6)}</text>`);
  }
  out.push(
    `<line x1="${left}" x2="${width - right}" y1="${sy(0)}" y2="${sy(0)}" stroke="#333"/>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${sy(0)}" stroke="#333"/>`,
    `<text x="${(left + width - right) / 2}" y="${height - 12}" text-anchor="middle">${xml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">${xml(options.yLabel)}</text>`,
  );
  for (const m of options.markers ?? []) {
    out.push(
      `<line x1="${sx(m.x)}" x2="${sx(m.x)}" y1="${top}" y2="${sy(0)}" stroke="#999" stroke-dasharray="2 3"/>`,
      `<text x="${sx(m.x) + 4}" y="${top + 12}" fill="#666">${xml(m.label)}</text>`,
    );
  }
  options.series.forEach((s, i) => {
    const d = s.points
      .filter(([x, y]) => Number.isFinite(x + y))
      .map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join('');
    const dash = s.dashed === true ? ' stroke-dasharray="6 4"' : '';
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    const ly = top + 10 + i * 20;
    out.push(
      `<line x1="${width - right + 12}" x2="${width - right + 36}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${width - right + 42}" y="${ly + 4}">${xml(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
