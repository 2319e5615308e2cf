/**
 * Colour scales of the heatmaps, painting into RGBA buffers (`ImageData.data` in the panel).
 * The panel passes colours read from the VS Code theme, so the maps follow light, dark and
 * high-contrast themes.
 */
import { cellPrunedFraction } from './tiles';

/** An sRGB colour with channels in 0–255. */
export type Rgb = readonly [number, number, number];

/** Returns the colour at `t` in [0, 1] along evenly spaced stops. */
export function rampColour(stops: readonly Rgb[], t: number): Rgb {
  const clamped = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const position = clamped * (stops.length - 1);
  const index = Math.min(stops.length - 2, Math.floor(position));
  return mixColour(stops[index], stops[index + 1], position - index);
}

/** Mixes two colours: `t = 0` gives `from`, `t = 1` gives `to`. */
export function mixColour(from: Rgb, to: Rgb, t: number): Rgb {
  return [
    from[0] + (to[0] - from[0]) * t,
    from[1] + (to[1] - from[1]) * t,
    from[2] + (to[2] - from[2]) * t,
  ];
}

/** The range of a log colour scale, in log10 units. */
export interface LogRange {
  low: number;
  high: number;
}

/** Values sampled at most by `logRange`, so that the range of a large tile costs a few ms. */
const logRangeSamples = 20_000;

/**
 * Chooses a log10 range for non-negative scores: from the 1st percentile of the positive values
 * to the maximum, so a few tiny scores do not wash out the map. The percentile comes from an
 * evenly strided sample of at most 20,000 values, and the maximum from all of them.
 */
export function logRange(values: ArrayLike<number>): LogRange {
  const stride = Math.max(1, Math.ceil(values.length / logRangeSamples));
  const sample: number[] = [];
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] > max) max = values[i];
    if (i % stride === 0 && values[i] > 0) sample.push(values[i]);
  }
  if (max === 0) return { low: -1, high: 0 };
  if (sample.length === 0) sample.push(max);
  const sorted = Float64Array.from(sample).sort();
  const low = Math.log10(sorted[Math.floor(sorted.length * 0.01)]);
  const high = Math.log10(max);
  return high > low ? { low, high } : { low: high - 1, high };
}

function put(out: Uint8ClampedArray, cell: number, colour: Rgb): void {
  const base = cell * 4;
  out[base] = colour[0];
  out[base + 1] = colour[1];
  out[base + 2] = colour[2];
  out[base + 3] = 255;
}

/** Paints scores on a log scale; zero scores get the first stop. */
export function paintLog(values: Float32Array, range: LogRange, stops: readonly Rgb[], out: Uint8ClampedArray): void {
  const span = range.high - range.low;
  for (let i = 0; i < values.length; i++) {
    const t = values[i] > 0 ? (Math.log10(values[i]) - range.low) / span : 0;
    put(out, i, rampColour(stops, t));
  }
}

/** Paints signed weights on a diverging scale: negative → `middle` → positive. */
export function paintDiverging(
  values: Float32Array,
  absMax: number,
  colours: { negative: Rgb; middle: Rgb; positive: Rgb },
  out: Uint8ClampedArray,
): void {
  const scale = absMax > 0 ? 1 / absMax : 0;
  for (let i = 0; i < values.length; i++) {
    const t = Math.min(1, Math.abs(values[i]) * scale);
    put(out, i, mixColour(colours.middle, values[i] < 0 ? colours.negative : colours.positive, t));
  }
}

/** Paints the mask: each cell mixes `kept` and `pruned` by its fraction of scores at most `threshold`. */
export function paintMask(
  quantiles: Float32Array,
  cells: number,
  threshold: number,
  colours: { kept: Rgb; pruned: Rgb },
  out: Uint8ClampedArray,
): void {
  for (let cell = 0; cell < cells; cell++) {
    const fraction = threshold === -Infinity ? 0 : cellPrunedFraction(quantiles, cell, threshold);
    put(out, cell, mixColour(colours.kept, colours.pruned, fraction));
  }
}

/** Returns the largest absolute value, for the diverging scale. */
export function absMax(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  return max;
}

/** Parses `#rgb`, `#rrggbb`, `#rrggbbaa` or `rgb()`/`rgba()` into a colour; null when unknown. */
export function parseColour(text: string): Rgb | null {
  const value = text.trim();
  const hex = /^#([0-9a-f]{3,8})$/i.exec(value);
  if (hex) {
    const digits = hex[1];
    if (digits.length === 3 || digits.length === 4) {
      return [0, 1, 2].map((i) => parseInt(digits[i] + digits[i], 16)) as unknown as Rgb;
    }
    if (digits.length === 6 || digits.length === 8) {
      return [0, 2, 4].map((i) => parseInt(digits.slice(i, i + 2), 16)) as unknown as Rgb;
    }
    return null;
  }
  const functional = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/i.exec(value);
  if (functional) return [Number(functional[1]), Number(functional[2]), Number(functional[3])];
  return null;
}

/** Dims each cell toward `background` by its pruned fraction, for the mask overlay. */
export function dimPruned(
  out: Uint8ClampedArray,
  quantiles: Float32Array,
  cells: number,
  threshold: number,
  background: Rgb,
  strength = 0.85,
): void {
  if (threshold === -Infinity) return;
  for (let cell = 0; cell < cells; cell++) {
    const fraction = cellPrunedFraction(quantiles, cell, threshold) * strength;
    if (fraction === 0) continue;
    const base = cell * 4;
    out[base] += (background[0] - out[base]) * fraction;
    out[base + 1] += (background[1] - out[base + 1]) * fraction;
    out[base + 2] += (background[2] - out[base + 2]) * fraction;
  }
}
