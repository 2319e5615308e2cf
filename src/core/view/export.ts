/** Chart exports of the panel: CSV tables and a self-contained SVG line chart. */

/** One line of a chart. */
export interface ChartSeries {
  name: string;
  x: readonly number[];
  y: readonly (number | null)[];
  /** CSS colour of the line. */
  colour: string;
}

/** What a line chart shows. */
export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
}

/** Quotes a CSV field when it contains a comma, a quote or a line break (RFC 4180). */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Writes the chart's data as CSV: one row per series and x value (`series,x,y`). */
export function chartCsv(chart: LineChart): string {
  const lines = [['series', chart.xLabel, chart.yLabel].map(csvField).join(',')];
  for (const series of chart.series) {
    series.x.forEach((x, i) => lines.push([series.name, x, series.y[i]].map(csvField).join(',')));
  }
  return lines.join('\r\n') + '\r\n';
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function extent(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  return high > low ? [low, high] : [low - 0.5, high + 0.5];
}

/** Renders a line chart as a standalone SVG document with axes, ticks and a legend. */
export function chartSvg(chart: LineChart, width = 720, height = 420): string {
  const margin = { left: 64, right: 180, top: 36, bottom: 48 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const [xLow, xHigh] = extent(chart.series.flatMap((series) => [...series.x]));
  const [yLow, yHigh] = extent(chart.series.flatMap((series) => series.y.filter((y): y is number => y !== null)));
  const sx = (x: number) => margin.left + ((x - xLow) / (xHigh - xLow)) * plotWidth;
  const sy = (y: number) => margin.top + (1 - (y - yLow) / (yHigh - yLow)) * plotHeight;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(chart.title)}</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#888888"/>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const x = xLow + ((xHigh - xLow) * i) / 5;
    const y = yLow + ((yHigh - yLow) * i) / 5;
    parts.push(`<text x="${sx(x)}" y="${height - margin.bottom + 16}" text-anchor="middle">${formatTick(x)}</text>`);
    parts.push(`<text x="${margin.left - 6}" y="${sy(y) + 4}" text-anchor="end">${formatTick(y)}</text>`);
  }
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`);
  chart.series.forEach((series, index) => {
    const points = series.x
      .map((x, i) => (series.y[i] === null || !Number.isFinite(series.y[i]) ? null : `${sx(x).toFixed(1)},${sy(series.y[i] as number).toFixed(1)}`))
      .filter((point): point is string => point !== null);
    const colour = escapeXml(series.colour);
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.join(' ')}"/>`);
    const legendY = margin.top + 8 + index * 18;
    parts.push(`<line x1="${width - margin.right + 12}" x2="${width - margin.right + 32}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="2"/>`);
    parts.push(`<text x="${width - margin.right + 38}" y="${legendY + 4}">${escapeXml(series.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function formatTick(value: number): string {
  return Math.abs(value) >= 1000 || (Math.abs(value) < 0.01 && value !== 0) ? value.toExponential(1) : String(Number(value.toFixed(3)));
}
