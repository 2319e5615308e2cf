/**
 * The recipe beside a model (`<model file>.prunelens.json`): the calibration data with its
 * preprocessing and the last prune choices, so the editor and the CLI can repeat a run. Data
 * paths are stored relative to the recipe's folder, so a recipe moves with its model.
 */
import * as path from 'node:path';
import type { DataOptions } from '../core/data/types';
import { PruneLensError } from '../core/errors';
import { methodNames, type PruneMethod } from '../core/reports';

/** The recipe's content. */
export interface Recipe {
  version: 1;
  /** Calibration data and preprocessing (absolute paths in memory). */
  data?: DataOptions;
  method?: PruneMethod;
  sparsity?: number;
  steps?: number;
  scope?: 'global' | 'layer';
  /** Per-layer sparsities, for scope `layer`. */
  layerSparsity?: Record<string, number>;
  /** Evaluation data with its own options, when not the calibration data. */
  evalData?: DataOptions;
  evalRows?: [number, number];
}

const dataPathKeys = ['data', 'labels'] as const;

/** Serializes a recipe with data paths made relative to `recipeFile`'s folder. */
export function serializeRecipe(recipe: Recipe, recipeFile: string): string {
  const folder = path.dirname(recipeFile);
  const stored: Recipe = { ...recipe, version: 1 };
  if (recipe.data) stored.data = mapPaths(recipe.data, (file) => relativeTo(folder, file));
  if (recipe.evalData)
    stored.evalData = mapPaths(recipe.evalData, (file) => relativeTo(folder, file));
  return JSON.stringify(stored, null, 2) + '\n';
}

/**
 * Parses and checks a recipe, making data paths absolute. Throws a one-line error naming the file.
 */
export function parseRecipe(
  text: string,
  recipeFile: string,
  methods: readonly string[] = [...methodNames, 'auto'],
): Recipe {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new PruneLensError(
      recipeFile,
      `is not valid JSON (${(error as Error).message}); fix or delete the file.`,
    );
  }
  if (!isObject(raw)) {
    throw new PruneLensError(recipeFile, 'must contain a JSON object; fix or delete the file.');
  }
  const fail = (message: string): never => {
    throw new PruneLensError(recipeFile, `${message}; fix or delete the file.`);
  };
  const folder = path.dirname(recipeFile);
  const recipe: Recipe = { version: 1 };
  if (raw.data !== undefined) recipe.data = parseData(raw.data, folder, 'data', fail);
  if (raw.evalData !== undefined) {
    recipe.evalData = parseData(raw.evalData, folder, 'evalData', fail);
  }
  const checks = settingChecks(methods);
  for (const [key, check] of Object.entries(checks)) {
    const value = raw[key];
    if (value === undefined) continue;
    const problem = check(value);
    if (problem) fail(`"${key}" ${problem}`);
    Object.assign(recipe, { [key]: value });
  }
  return recipe;
}

/** Returns, per recipe setting, a check that describes an invalid value (or returns undefined). */
function settingChecks(
  methods: readonly string[],
): Record<string, (value: unknown) => string | undefined> {
  const quoted = (value: unknown) => `is ${JSON.stringify(value)}`;
  return {
    method: (value) =>
      typeof value === 'string' && methods.includes(value)
        ? undefined
        : `${quoted(value)}, expected one of ${methods.join(', ')}`,
    sparsity: (value) =>
      typeof value === 'number' && value > 0 && value < 1
        ? undefined
        : `${quoted(value)}, expected a number above 0 and below 1`,
    steps: (value) =>
      Number.isInteger(value) && (value as number) >= 1
        ? undefined
        : `${quoted(value)}, expected a whole number of at least 1`,
    scope: (value) =>
      value === 'global' || value === 'layer'
        ? undefined
        : `${quoted(value)}, expected "global" or "layer"`,
    layerSparsity: (value) =>
      isObject(value) && Object.values(value).every(isFraction)
        ? undefined
        : 'must map layer names to numbers between 0 and 1',
    evalRows: (value) =>
      isRange(value) ? undefined : 'must be [start, end] with 0 <= start < end',
  };
}

function parseData(
  value: unknown,
  folder: string,
  key: string,
  fail: (message: string) => never,
): DataOptions {
  if (!isObject(value) || typeof value.data !== 'string' || value.data === '') {
    return fail(`"${key}" must be an object with a "data" file path`);
  }
  if (value.labels !== undefined && typeof value.labels !== 'string') {
    fail(`"${key}.labels" must be a file path`);
  }
  if (value.rows !== undefined && !isRange(value.rows)) {
    fail(`"${key}.rows" must be [start, end] with 0 <= start < end`);
  }
  for (const name of ['scale', 'shift', 'mean', 'std'] as const) {
    const entry = value[name];
    const valid =
      entry === undefined ||
      typeof entry === 'number' ||
      (Array.isArray(entry) && entry.every((item) => typeof item === 'number'));
    if (!valid) fail(`"${key}.${name}" must be a number or a list of numbers`);
  }
  return mapPaths(value as unknown as DataOptions, (file) => path.resolve(folder, file));
}

function mapPaths(options: DataOptions, map: (file: string) => string): DataOptions {
  const copy: DataOptions = { ...options };
  for (const key of dataPathKeys) {
    const file = copy[key];
    if (typeof file === 'string') copy[key] = map(file);
  }
  return copy;
}

function relativeTo(folder: string, file: string): string {
  const relative = path.relative(folder, file);
  return path.isAbsolute(relative) ? file : relative.split(path.sep).join('/');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFraction(value: unknown): boolean {
  return typeof value === 'number' && value >= 0 && value <= 1;
}

function isRange(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    value.every(Number.isInteger) &&
    value[0] >= 0 &&
    value[0] < value[1]
  );
}
