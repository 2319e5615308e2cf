/**
 * One dense layer's heatmap: importance (log scale), weights (diverging) or the pruning mask,
 * drawn from a downsampled tile the host cuts on request. Clicking or pressing Enter zooms into
 * a 64 × 64 region at full resolution; hovering or moving the keyboard cursor shows one weight.
 */
import {
  absMax,
  dimPruned,
  logRange,
  paintDiverging,
  paintLog,
  paintMask,
  type LogRange,
} from '../src/core/view/colour';
import type { DenseLayerView, WeightDetail, WireRegion, WireTile } from '../src/shared/protocol';
import { formatNumber, h } from './dom';
import { call } from './rpc';
import type { Palette } from './theme';

/** Map kind of a heatmap. */
export type MapKind = 'importance' | 'weights' | 'mask';

/** Shared view settings of all heatmaps. */
export interface HeatmapSettings {
  kind(): MapKind;
  overlay(): boolean;
  palette(): Palette;
}

/** A tile with its arrays decoded. */
export interface DecodedTile extends Omit<WireTile, 'weight' | 'importance' | 'quantiles'> {
  weight: Float32Array;
  importance: Float32Array;
  quantiles: Float32Array;
}

/** Cells per side of the overview tile, and of a zoomed region. */
const overviewCells = 256;
const zoomSize = 64;

/** Decodes a tile's buffers. */
export function decodeTile(tile: WireTile): DecodedTile {
  return {
    ...tile,
    weight: new Float32Array(tile.weight),
    importance: new Float32Array(tile.importance),
    quantiles: new Float32Array(tile.quantiles),
  };
}

/** Paints a tile into RGBA pixels, one per cell. */
export function paintTile(
  tile: DecodedTile,
  kind: MapKind,
  threshold: number,
  overlay: boolean,
  scale: { range: LogRange; weightMax: number },
  palette: Palette,
  out: Uint8ClampedArray,
): void {
  const cells = tile.rows * tile.cols;
  if (kind === 'mask') {
    paintMask(tile.quantiles, cells, threshold, { kept: palette.green, pruned: palette.red }, out);
    return;
  }
  if (kind === 'importance') paintLog(tile.importance, scale.range, palette.importance, out);
  else paintDiverging(tile.weight, scale.weightMax, { negative: palette.red, middle: palette.background, positive: palette.blue }, out);
  if (overlay) dimPruned(out, tile.quantiles, cells, threshold, palette.background);
}

/** The heatmap of one dense layer. */
export class LayerHeatmap {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly cursorBox: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly readout: HTMLElement;
  private readonly zoomOut: HTMLElement;
  private tile: DecodedTile | null = null;
  private overview: DecodedTile | null = null;
  private scale: { range: LogRange; weightMax: number } = { range: { low: -1, high: 0 }, weightMax: 1 };
  private threshold = -Infinity;
  private cursor = { unit: 0, input: 0 };
  private pointTimer: number | undefined;
  /** Time of the last paint in milliseconds, for the benchmark readout. */
  lastPaintMs = 0;

  constructor(
    readonly layer: DenseLayerView,
    private readonly settings: HeatmapSettings,
  ) {
    this.canvas = h('canvas', {
      class: 'heatmap',
      tabindex: 0,
      role: 'img',
      'aria-label': `Heatmap of layer ${layer.name}: ${layer.units} units by ${layer.inputs} inputs. Arrow keys move the cursor, Enter zooms in, Escape zooms out.`,
      'data-layer': layer.name,
    });
    this.cursorBox = h('div', { class: 'cursor', hidden: true });
    this.caption = h('span', { class: 'caption' });
    this.readout = h('div', { class: 'readout', 'aria-live': 'polite' }, 'Hover or use the arrow keys to inspect a weight.');
    this.zoomOut = h('vscode-button', { appearance: 'secondary', hidden: true, onclick: () => void this.showOverview() }, 'Zoom Out');
    this.element = h(
      'section',
      { class: 'layer', 'aria-label': `Layer ${layer.name}` },
      h('h3', {}, `${layer.name} `, h('span', { class: 'muted' }, `${layer.units} × ${layer.inputs}, ${layer.activation}`)),
      h('div', { class: 'toolbar' }, this.caption, this.zoomOut),
      h('div', { class: 'canvas-wrap' }, this.canvas, this.cursorBox),
      this.readout,
    );
    this.canvas.addEventListener('mousemove', (event) => this.onPointer(event));
    this.canvas.addEventListener('click', (event) => this.onClick(event));
    this.canvas.addEventListener('keydown', (event) => this.onKey(event));
  }

  /** Requests the overview tile and draws it. */
  async showOverview(): Promise<void> {
    const region = { row0: 0, row1: this.layer.units, col0: 0, col1: this.layer.inputs };
    const tile = await this.fetch(region, overviewCells);
    this.overview = tile;
    this.scale = { range: logRange(tile.quantiles), weightMax: absMax(tile.weight) };
    this.show(tile);
  }

  /** The current tile's log range, for the legend. */
  get range(): LogRange {
    return this.scale.range;
  }

  /** Reloads the overview after new scores. */
  reload(): Promise<void> {
    this.overview = null;
    return this.showOverview();
  }

  /** Sets the pruning threshold of this layer and repaints. */
  setThreshold(threshold: number): void {
    this.threshold = threshold;
    this.paint();
  }

  /** Zooms into the region around a weight at full resolution. */
  async zoomTo(unit: number, input: number): Promise<void> {
    const half = zoomSize / 2;
    const row0 = Math.max(0, Math.min(this.layer.units - zoomSize, unit - half));
    const col0 = Math.max(0, Math.min(this.layer.inputs - zoomSize, input - half));
    const region = { row0, row1: Math.min(this.layer.units, row0 + zoomSize), col0, col1: Math.min(this.layer.inputs, col0 + zoomSize) };
    this.show(await this.fetch(region, zoomSize));
  }

  private async fetch(region: WireRegion, cells: number): Promise<DecodedTile> {
    const reply = await call('tile', { layer: this.layer.name, region, maxRows: cells, maxCols: cells }).result;
    return decodeTile(reply);
  }

  private show(tile: DecodedTile): void {
    this.tile = tile;
    this.canvas.width = tile.cols;
    this.canvas.height = tile.rows;
    const displayWidth = Math.min(800, Math.max(240, tile.cols * 4));
    const displayHeight = Math.min(360, Math.max(48, (tile.rows / tile.cols) * displayWidth * (tile.rowStep / tile.colStep)));
    this.canvas.style.width = `${displayWidth}px`;
    this.canvas.style.height = `${Math.round(displayHeight)}px`;
    const zoomed = tile !== this.overview;
    this.zoomOut.hidden = !zoomed;
    const cells = tile.rowStep * tile.colStep === 1 ? 'one weight per cell' : `each cell ${tile.rowStep} × ${tile.colStep} weights`;
    this.caption.textContent = `units ${tile.row0}–${tile.row1 - 1}, inputs ${tile.col0}–${tile.col1 - 1} (${cells})`;
    this.cursor = { unit: Math.max(tile.row0, Math.min(tile.row1 - 1, this.cursor.unit)), input: Math.max(tile.col0, Math.min(tile.col1 - 1, this.cursor.input)) };
    this.paint();
  }

  /** Repaints the current tile with the current map, threshold and theme. */
  paint(): void {
    const tile = this.tile;
    if (!tile) return;
    const started = performance.now();
    const context = this.canvas.getContext('2d');
    if (!context) return;
    const image = context.createImageData(tile.cols, tile.rows);
    paintTile(tile, this.settings.kind(), this.threshold, this.settings.overlay(), this.scale, this.settings.palette(), image.data);
    context.putImageData(image, 0, 0);
    this.lastPaintMs = performance.now() - started;
  }

  private weightAt(event: MouseEvent): { unit: number; input: number } | null {
    const tile = this.tile;
    if (!tile) return null;
    const rect = this.canvas.getBoundingClientRect();
    const fx = (event.clientX - rect.left) / rect.width;
    const fy = (event.clientY - rect.top) / rect.height;
    if (fx < 0 || fx >= 1 || fy < 0 || fy >= 1) return null;
    return {
      unit: tile.row0 + Math.floor(fy * (tile.row1 - tile.row0)),
      input: tile.col0 + Math.floor(fx * (tile.col1 - tile.col0)),
    };
  }

  private onPointer(event: MouseEvent): void {
    const at = this.weightAt(event);
    if (at) this.inspect(at.unit, at.input, false);
  }

  private onClick(event: MouseEvent): void {
    const at = this.weightAt(event);
    if (at) void this.zoomTo(at.unit, at.input);
  }

  private onKey(event: KeyboardEvent): void {
    const tile = this.tile;
    if (!tile) return;
    const steps: Record<string, [number, number]> = {
      ArrowUp: [-tile.rowStep, 0],
      ArrowDown: [tile.rowStep, 0],
      ArrowLeft: [0, -tile.colStep],
      ArrowRight: [0, tile.colStep],
    };
    if (event.key in steps) {
      const [du, di] = steps[event.key];
      const factor = event.shiftKey ? 8 : 1;
      const unit = Math.max(tile.row0, Math.min(tile.row1 - 1, this.cursor.unit + du * factor));
      const input = Math.max(tile.col0, Math.min(tile.col1 - 1, this.cursor.input + di * factor));
      this.inspect(unit, input, true);
    } else if (event.key === 'Enter' || event.key === ' ') {
      void this.zoomTo(this.cursor.unit, this.cursor.input);
    } else if (event.key === 'Escape' && this.tile !== this.overview) {
      void this.showOverview();
    } else {
      return;
    }
    event.preventDefault();
  }

  private inspect(unit: number, input: number, showCursor: boolean): void {
    this.cursor = { unit, input };
    this.placeCursor(showCursor);
    window.clearTimeout(this.pointTimer);
    this.pointTimer = window.setTimeout(() => {
      call('point', { layer: this.layer.name, unit, input })
        .result.then((detail) => this.describe(detail))
        .catch(() => undefined);
    }, 30);
  }

  private placeCursor(visible: boolean): void {
    const tile = this.tile;
    this.cursorBox.hidden = !visible || !tile;
    if (!tile || !visible) return;
    const width = this.canvas.clientWidth / tile.cols;
    const height = this.canvas.clientHeight / tile.rows;
    const row = Math.floor((this.cursor.unit - tile.row0) / tile.rowStep);
    const col = Math.floor((this.cursor.input - tile.col0) / tile.colStep);
    Object.assign(this.cursorBox.style, {
      left: `${col * width}px`,
      top: `${row * height}px`,
      width: `${Math.max(3, width)}px`,
      height: `${Math.max(3, height)}px`,
    });
  }

  private describe(detail: WeightDetail): void {
    const pruned = detail.importance <= this.threshold;
    const compensation = detail.compensation === null ? 'none' : formatNumber(detail.compensation);
    this.readout.textContent =
      `unit ${detail.unit}, input ${detail.input}: weight ${formatNumber(detail.weight)}, ` +
      `importance ${formatNumber(detail.importance)}, compensation ${compensation}`;
    if (this.threshold !== -Infinity) this.readout.textContent += pruned ? ' (pruned)' : ' (kept)';
  }
}

/** Draws the summed importance of each input of the first layer as an image. */
export function drawInputImage(canvas: HTMLCanvasElement, values: Float32Array, height: number, width: number, palette: Palette): void {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  if (!context) return;
  const image = context.createImageData(width, height);
  paintLog(values, logRange(values), palette.importance, image.data);
  context.putImageData(image, 0, 0);
}

/** Draws a horizontal legend of the importance ramp. */
export function drawLegend(canvas: HTMLCanvasElement, palette: Palette): void {
  const width = 256;
  canvas.width = width;
  canvas.height = 1;
  const context = canvas.getContext('2d');
  if (!context) return;
  const image = context.createImageData(width, 1);
  const ramp = new Float32Array(width).map((_, i) => Math.pow(10, i / (width - 1)));
  paintLog(ramp, { low: 0, high: 1 }, palette.importance, image.data);
  context.putImageData(image, 0, 0);
}
