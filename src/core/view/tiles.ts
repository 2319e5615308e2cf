/**
 * Downsampled tiles of a dense layer for the heatmaps. A tile covers a region of the
 * `[units, inputs]` kernel. Each cell aggregates a block of weights, so a large layer reaches
 * the panel as at most `maxRows × maxCols` cells.
 */

/** Quantiles stored per cell (0, 1/8, …, 1) so the panel can shade a cell's pruned fraction. */
export const cellQuantiles = 9;

/** A half-open region `[row0, row1) × [col0, col1)` of a kernel: rows are units, columns inputs. */
export interface Region {
  row0: number;
  row1: number;
  col0: number;
  col1: number;
}

/** A request for one tile. */
export interface TileRequest extends Region {
  maxRows: number;
  maxCols: number;
}

/** A layer's values that tiles are cut from, all `[units, inputs]` row-major. */
export interface LayerValues {
  units: number;
  inputs: number;
  kernel: Float32Array;
  importance: Float32Array;
  compensation: Float32Array | null;
}

/** One tile: `rows × cols` cells, each covering `rowStep × colStep` weights (fewer at the edges). */
export interface Tile extends Region {
  rows: number;
  cols: number;
  rowStep: number;
  colStep: number;
  /** Per cell, the weight of largest magnitude (signed). */
  weight: Float32Array;
  /** Per cell, the mean importance. */
  importance: Float32Array;
  /** Per cell, `cellQuantiles` importance quantiles, ascending. */
  quantiles: Float32Array;
}

/** Clamps a requested region to the layer and returns it with at least one row and column. */
export function clampRegion(values: Pick<LayerValues, 'units' | 'inputs'>, region: Region): Region {
  const clamp = (value: number, max: number) => Math.min(max, Math.max(0, Math.floor(value)));
  const row0 = clamp(region.row0, values.units - 1);
  const col0 = clamp(region.col0, values.inputs - 1);
  const row1 = Math.max(row0 + 1, clamp(region.row1, values.units));
  const col1 = Math.max(col0 + 1, clamp(region.col1, values.inputs));
  return { row0, row1, col0, col1 };
}

/** Cuts one tile from a layer. */
export function buildTile(values: LayerValues, request: TileRequest): Tile {
  const region = clampRegion(values, request);
  const height = region.row1 - region.row0;
  const width = region.col1 - region.col0;
  const rowStep = Math.ceil(height / Math.max(1, Math.floor(request.maxRows)));
  const colStep = Math.ceil(width / Math.max(1, Math.floor(request.maxCols)));
  const rows = Math.ceil(height / rowStep);
  const cols = Math.ceil(width / colStep);
  const tile: Tile = {
    ...region,
    rows,
    cols,
    rowStep,
    colStep,
    weight: new Float32Array(rows * cols),
    importance: new Float32Array(rows * cols),
    quantiles: new Float32Array(rows * cols * cellQuantiles),
  };
  const scratch = new Float32Array(rowStep * colStep);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) fillCell(values, tile, row, col, scratch);
  }
  return tile;
}

function fillCell(values: LayerValues, tile: Tile, row: number, col: number, scratch: Float32Array): void {
  const unitStart = tile.row0 + row * tile.rowStep;
  const unitEnd = Math.min(tile.row1, unitStart + tile.rowStep);
  const inputStart = tile.col0 + col * tile.colStep;
  const inputEnd = Math.min(tile.col1, inputStart + tile.colStep);
  let strongest = 0;
  let sum = 0;
  let n = 0;
  for (let unit = unitStart; unit < unitEnd; unit++) {
    const base = unit * values.inputs;
    for (let input = inputStart; input < inputEnd; input++) {
      const weight = values.kernel[base + input];
      if (Math.abs(weight) > Math.abs(strongest)) strongest = weight;
      const score = values.importance[base + input];
      sum += score;
      scratch[n++] = score;
    }
  }
  const cell = row * tile.cols + col;
  tile.weight[cell] = strongest;
  tile.importance[cell] = sum / n;
  const sorted = n <= 16 ? insertionSort(scratch, n) : scratch.subarray(0, n).sort();
  for (let q = 0; q < cellQuantiles; q++) {
    tile.quantiles[cell * cellQuantiles + q] = sorted[Math.round((q * (n - 1)) / (cellQuantiles - 1))];
  }
}

/** Sorts the first `n` values in place; faster than a typed-array sort for the small cells. */
function insertionSort(values: Float32Array, n: number): Float32Array {
  for (let i = 1; i < n; i++) {
    const value = values[i];
    let j = i - 1;
    for (; j >= 0 && values[j] > value; j--) values[j + 1] = values[j];
    values[j + 1] = value;
  }
  return values;
}

/** Returns the fraction of a cell's weights whose score is at most `threshold`, from its quantiles. */
export function cellPrunedFraction(quantiles: Float32Array, cell: number, threshold: number): number {
  const base = cell * cellQuantiles;
  if (threshold < quantiles[base]) return 0;
  if (threshold >= quantiles[base + cellQuantiles - 1]) return 1;
  let q = 0;
  while (q < cellQuantiles - 1 && quantiles[base + q + 1] <= threshold) q++;
  const low = quantiles[base + q];
  const high = quantiles[base + q + 1];
  const t = high > low ? (threshold - low) / (high - low) : 0;
  return (q + t) / (cellQuantiles - 1);
}

/** Sums importance over units for every input: how much each input feature matters. */
export function inputImportance(values: Pick<LayerValues, 'units' | 'inputs' | 'importance'>): Float32Array {
  const sums = new Float32Array(values.inputs);
  for (let unit = 0; unit < values.units; unit++) {
    const base = unit * values.inputs;
    for (let input = 0; input < values.inputs; input++) sums[input] += values.importance[base + input];
  }
  return sums;
}

/**
 * Returns `[height, width]` when an input vector of this length is an image: from the model's
 * input shape (`[h, w]` or `[h, w, 1]`), the data's sample shape, or 784 as 28 × 28 (MNIST).
 */
export function imageShape(inputs: number, ...shapes: (readonly number[] | undefined)[]): [number, number] | null {
  for (const shape of shapes) {
    if (!shape) continue;
    const dims = shape.length === 3 && shape[2] === 1 ? shape.slice(0, 2) : shape;
    if (dims.length === 2 && dims[0] > 1 && dims[1] > 1 && dims[0] * dims[1] === inputs) {
      return [dims[0], dims[1]];
    }
  }
  return inputs === 784 ? [28, 28] : null;
}
