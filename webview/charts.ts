/** Line charts of the sensitivity and comparison views (uPlot), with a table and exports. */
import uPlot from 'uplot';
import { chartCsv, chartSvg, type LineChart } from '../src/core/view/export';
import { formatNumber, h } from './dom';
import { cssColour, type Palette } from './theme';

/** Chart content: shared x values and one y list per series. */
export interface ChartData {
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  /** Lines of the chart. A `dashed` line summarises the others, such as auto's picks. */
  series: { name: string; values: (number | null)[]; dashed?: boolean }[];
}

/** A chart with a data table, redrawn when the theme changes. */
export class LineChartView {
  readonly element: HTMLElement;
  private readonly plotHost: HTMLElement;
  private readonly table: HTMLTableElement;
  private plot: uPlot | null = null;
  private data: ChartData | null = null;

  /**
   * `onPick`, when given, turns each table value into a button that reports its series and x
   * index, so a value can be chosen with the keyboard as well as the mouse.
   */
  constructor(
    private readonly id: string,
    private readonly palette: () => Palette,
    private readonly onPick?: (series: number, row: number) => void,
  ) {
    this.plotHost = h('div', { class: 'chart', id: `${id}-chart`, role: 'img', 'aria-label': 'Chart; the table below lists the same values.' });
    this.table = h('table', { class: 'data-table', id: `${id}-table` });
    this.element = h('div', { class: 'chart-view' }, this.plotHost, this.table);
  }

  /** Draws new data. */
  render(data: ChartData): void {
    this.data = data;
    this.redraw();
    this.renderTable(data);
  }

  /** Draws the current data again, such as after a theme change. */
  redraw(): void {
    const data = this.data;
    if (!data) return;
    this.plot?.destroy();
    const palette = this.palette();
    const foreground = cssColour(palette.foreground);
    const grid = cssColour(palette.border);
    const axis = { stroke: foreground, grid: { stroke: grid, width: 0.5 }, ticks: { stroke: grid } };
    const options: uPlot.Options = {
      title: data.title,
      width: Math.max(420, Math.min(900, this.element.clientWidth || 720)),
      height: 320,
      scales: { x: { time: false } },
      axes: [
        { ...axis, label: data.xLabel },
        { ...axis, label: data.yLabel, size: 64 },
      ],
      series: [
        { label: data.xLabel },
        ...data.series.map((series, i) => ({
          label: series.name,
          stroke: palette.series[i % palette.series.length],
          width: 2,
          dash: series.dashed ? [6, 4] : undefined,
          points: { show: true, size: 5 },
        })),
      ],
    };
    const columns: uPlot.AlignedData = [data.x, ...data.series.map((series) => series.values)] as uPlot.AlignedData;
    this.plot = new uPlot(options, columns, this.plotHost);
  }

  private renderTable(data: ChartData): void {
    this.table.replaceChildren(
      h('caption', {}, `${data.title}: ${data.yLabel} by ${data.xLabel}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, data.xLabel), ...data.series.map((series) => h('th', { scope: 'col' }, series.name)))),
      h(
        'tbody',
        {},
        ...data.x.map((x, row) =>
          h('tr', {}, h('th', { scope: 'row' }, formatNumber(x)), ...data.series.map((series, column) => this.cell(data, column, row))),
        ),
      ),
    );
  }

  private cell(data: ChartData, column: number, row: number): HTMLElement {
    const text = formatNumber(data.series[column].values[row]);
    const onPick = this.onPick;
    if (!onPick) return h('td', {}, text);
    const label = `Use ${data.xLabel} ${formatNumber(data.x[row])} for ${data.series[column].name} (${data.yLabel} ${text})`;
    return h('td', {}, h('button', { class: 'cell-pick', type: 'button', 'aria-label': label, title: label, onclick: () => onPick(column, row) }, text));
  }

  private lineChart(): LineChart | null {
    const data = this.data;
    if (!data) return null;
    const colours = this.palette().series;
    return {
      title: data.title,
      xLabel: data.xLabel,
      yLabel: data.yLabel,
      series: data.series.map((series, i) => ({ name: series.name, x: data.x, y: series.values, colour: colours[i % colours.length] })),
    };
  }

  /** Returns the chart as CSV text. */
  csv(): string | null {
    const chart = this.lineChart();
    return chart ? chartCsv(chart) : null;
  }

  /** Returns the chart as a standalone SVG document (light background, theme series colours). */
  svg(): string | null {
    const chart = this.lineChart();
    return chart ? chartSvg(chart) : null;
  }

  /** Renders the plot canvas with a legend on the theme background and returns PNG bytes. */
  async png(): Promise<ArrayBuffer | null> {
    const plot = this.plot;
    const data = this.data;
    if (!plot || !data) return null;
    const source = plot.ctx.canvas;
    const palette = this.palette();
    const legendHeight = 20 * data.series.length + 40;
    const canvas = document.createElement('canvas');
    canvas.width = source.width;
    canvas.height = source.height + legendHeight;
    const context = canvas.getContext('2d');
    if (!context) return null;
    context.fillStyle = cssColour(palette.background);
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.fillStyle = cssColour(palette.foreground);
    context.font = '14px sans-serif';
    context.fillText(data.title, 12, 22);
    context.drawImage(source, 0, 30);
    data.series.forEach((series, i) => {
      const y = source.height + 40 + i * 20;
      context.fillStyle = palette.series[i % palette.series.length];
      context.fillRect(12, y - 8, 24, 4);
      context.fillStyle = cssColour(palette.foreground);
      context.fillText(series.name, 44, y);
    });
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    return blob ? blob.arrayBuffer() : null;
  }
}
