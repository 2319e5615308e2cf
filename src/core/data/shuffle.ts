/** Seeded row shuffling, so sorted files (iris is sorted by class) split into fair row ranges. */
import { mulberry32 } from '../compute/statistics';
import { DataError } from '../errors';
import type { Dataset } from './types';

/** Returns the rows of `dataset` in a seeded random order, then keeps `rows` of that order. */
export function shuffleRows(dataset: Dataset, seed: number, rows: [number, number] | undefined): Dataset {
  const order = Array.from({ length: dataset.samples }, (_, i) => i);
  const random = mulberry32(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const start = rows?.[0] ?? 0;
  const end = rows ? Math.min(rows[1], dataset.samples) : dataset.samples;
  if (start >= end) {
    throw new DataError(dataset.source, `rows ${start}:${rows?.[1]} is out of range: the file has ${dataset.samples} samples.`);
  }
  const kept = order.slice(start, end);
  const width = dataset.featureCount;
  const features = new Float32Array(kept.length * width);
  const labelWidth = dataset.labelWidth;
  const labels = dataset.labels ? new Float32Array(kept.length * labelWidth) : null;
  kept.forEach((row, index) => {
    features.set(dataset.features.subarray(row * width, (row + 1) * width), index * width);
    if (labels && dataset.labels) {
      labels.set(dataset.labels.subarray(row * labelWidth, (row + 1) * labelWidth), index * labelWidth);
    }
  });
  const range = rows ? `, rows ${start}:${end} of that order` : '';
  return {
    ...dataset,
    samples: kept.length,
    features,
    labels,
    description: `${dataset.description}, shuffled with seed ${seed}${range}`,
  };
}
