/**
 * Reports of simulation runs: a terminal table with sparklines, a JSON summary, and a self-contained
 * HTML report with charts. All take a `SimReport`: a scenario and its runs, one per policy.
 */
export { escapeHtml } from './escape.ts';
export { type HtmlReportOptions, renderHtml } from './html.ts';
export { type JsonReport, type JsonReportOptions, jsonReport } from './json.ts';
export type { SimReport } from './report.ts';
export { type SummaryRow, summaryRows } from './rows.ts';
export { type SparklineOptions, sparkline } from './sparkline.ts';
export { type ChartLine, type LineChartOptions, lineChart } from './svg.ts';
export { renderTable, type TableOptions } from './table.ts';
