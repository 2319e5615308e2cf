/** Turns the CLI's option values into the core's requests and settings. */
import type { Command } from 'commander';
import { UsageError } from '../core/errors';
import { parseNumberList, parseRows } from '../core/data/options';
import type { DataOptions } from '../core/data/types';
import type { ActivationName } from '../core/model';
import {
  methodNames,
  type DataRequest,
  type MethodName,
  type ModelRequest,
  type PruneJobSettings,
  type ReferenceOutput,
  type ScoreSettings,
} from '../core/reports';

/** Activations `--activation` accepts for files without an architecture. */
const activationNames = ['relu', 'leaky_relu', 'tanh', 'sigmoid', 'elu', 'selu', 'gelu', 'softplus', 'swish', 'linear'];

/** Option values as commander returns them. */
export type RawOptions = Record<string, string | boolean | undefined>;

/** Adds the data options every data-taking command shares. */
export function addDataOptions(command: Command, required: boolean): Command {
  const dataFlag = '--data <file>';
  const dataHelp = 'calibration data: CSV, .npy, .npz, JSON or MNIST IDX (.gz too)';
  if (required) command.requiredOption(dataFlag, dataHelp);
  else command.option(dataFlag, dataHelp);
  return command
    .option('--label-column <name|index>', 'CSV label column, by header name or zero-based index')
    .option('--label-kind <kind>', 'read labels as class indices (class) or regression targets (value); default: integers are classes')
    .option('--features <columns>', 'CSV feature columns: names or indices, comma-separated, ranges like 0-12 (default: all but the label)')
    .option('--skip-lines <n>', 'CSV lines before the header (scikit-learn files have one count line)')
    .option('--labels <file>', 'separate label file (IDX labels, .npy, CSV or JSON)')
    .option('--features-key <name>', 'features array inside an .npz file')
    .option('--labels-key <name>', 'labels array inside an .npz file')
    .option('--scale <x>', 'preprocessing (x * scale + shift - mean) / std: a number or one per feature, comma-separated')
    .option('--shift <x>', 'added after scaling: a number or one per feature')
    .option('--mean <x>', 'subtracted after shifting: a number or one per feature')
    .option('--std <x>', 'divisor after subtracting the mean: a number or one per feature')
    .option('--rows <start:end>', 'calibration samples to use, half-open, for example 0:2000')
    .option('--shuffle <seed>', 'put the samples in a seeded random order before --rows and --eval-rows (for files sorted by class)')
    .option('--eval-rows <start:end>', 'evaluate on these samples of the same data file')
    .option('--eval-data <file>', 'evaluate on another file, read with the same data options')
    .option('--eval-labels <file>', 'label file of --eval-data (IDX)')
    .option('--max-data-size <MB>', 'largest data or label file to read, in megabytes, also after gzip or .npz decompression (default 1024)');
}

/** Adds the model-loading options. */
export function addModelOptions(command: Command): Command {
  return command
    .option('--activation <name>', 'activation between dense layers for safetensors and PyTorch files without an architecture (default relu)')
    .option('--architecture <file>', 'architecture file (JSON or YAML) for weights-only models')
    .option('--backend <name>', 'TensorFlow.js backend: auto, node, wasm or cpu', 'auto')
    .option('--max-size <MB>', 'largest model to load, in megabytes, weight files included (default 2048)');
}

/**
 * Adds the scoring options; without a default method, `prune` picks one from the data, and with
 * `null` there is no --method option (compare takes --methods).
 */
export function addScoreOptions(command: Command, defaultMethod: string | undefined | null): Command {
  if (defaultMethod !== null) addMethodOption(command, defaultMethod);
  return command
    .option('--reference <output>', 'sensitivities on the logits (default) or the final output', 'logits')
    .option('--seed <n>', 'seed of random scores, probe vectors and --method auto\'s split', '0')
    .option('--batch-size <n>', 'samples per batch of the streamed statistics', '1024');
}

function addMethodOption(command: Command, defaultMethod: string | undefined): void {
  const methodHelp =
    defaultMethod === undefined
      ? `pruning method: auto, ${methodNames.join(', ')} (default: auto with --data, magnitude without)`
      : `scoring method: ${methodNames.join(', ')}`;
  command.option('--method <name>', methodHelp, defaultMethod);
}

/** Builds the model request. */
export function modelRequest(model: string, options: RawOptions): ModelRequest {
  return {
    model,
    activation:
      typeof options.activation === 'string'
        ? (parseChoice(options.activation, activationNames, '--activation') as ActivationName)
        : undefined,
    architecture: options.architecture as string | undefined,
    maxBytes: typeof options.maxSize === 'string' ? parseMegabytes(options.maxSize, '--max-size') : undefined,
  };
}

function parseMegabytes(text: string, option: string): number {
  const value = Number(text);
  if (!(value > 0)) throw new UsageError(`${option}: expected a positive number of megabytes, got '${text}'.`);
  return value * 2 ** 20;
}

/** Builds the data request, or undefined when no data was given. */
export function dataRequest(options: RawOptions): DataRequest | undefined {
  if (typeof options.data !== 'string') return undefined;
  const data = dataOptions(options.data, options);
  const request: DataRequest = { data };
  if (typeof options.evalRows === 'string') request.evalRows = parseRange(options.evalRows, '--eval-rows');
  if (typeof options.evalData === 'string') {
    // The evaluation file shares the column and preprocessing options, but not the label file.
    const evalLabels = typeof options.evalLabels === 'string' ? options.evalLabels : undefined;
    request.evalData = { ...dataOptions(options.evalData, options), rows: undefined, labels: evalLabels };
  }
  return request;
}

function dataOptions(file: string, options: RawOptions): DataOptions {
  const text = (name: string) => (typeof options[name] === 'string' ? (options[name] as string) : undefined);
  const labelColumn = text('labelColumn');
  return {
    data: file,
    labelColumn: labelColumn !== undefined && /^\d+$/.test(labelColumn) ? Number(labelColumn) : labelColumn,
    features: text('features'),
    skipLines: text('skipLines') !== undefined ? parseInteger(text('skipLines') as string, '--skip-lines', 0) : undefined,
    labels: text('labels'),
    featuresKey: text('featuresKey'),
    labelsKey: text('labelsKey'),
    scale: numberList(text('scale'), '--scale'),
    shift: numberList(text('shift'), '--shift'),
    mean: numberList(text('mean'), '--mean'),
    std: numberList(text('std'), '--std'),
    rows: text('rows') !== undefined ? parseRange(text('rows') as string, '--rows') : undefined,
    shuffle: text('shuffle') !== undefined ? parseInteger(text('shuffle') as string, '--shuffle', 0) : undefined,
    labelKind: text('labelKind') !== undefined ? (parseChoice(text('labelKind') as string, ['class', 'value'], '--label-kind') as 'class' | 'value') : undefined,
    maxBytes: text('maxDataSize') !== undefined ? parseMegabytes(text('maxDataSize') as string, '--max-data-size') : undefined,
  };
}

/** Builds scoring settings. */
export function scoreSettings(options: RawOptions): ScoreSettings {
  return {
    method: parseMethod(String(options.method)),
    reference: parseChoice(String(options.reference), ['logits', 'output'], '--reference') as ReferenceOutput,
    seed: parseInteger(String(options.seed), '--seed', 0),
    batchSize: parseInteger(String(options.batchSize), '--batch-size', 1),
  };
}

/** Builds pruning settings; the method may be `auto`, the default when data is given. */
export function pruneSettings(options: RawOptions): PruneJobSettings {
  let method = options.data ? 'auto' : 'magnitude';
  if (typeof options.method === 'string') method = options.method;
  if (method !== 'auto' && !(methodNames as readonly string[]).includes(method)) {
    throw new UsageError(`--method must be one of auto, ${methodNames.join(', ')}, got '${method}'.`);
  }
  const validationFraction =
    typeof options.validationFraction === 'string' ? parseFraction(options.validationFraction, '--validation-fraction') : 0.2;
  return {
    ...scoreSettings({ ...options, method: method === 'auto' ? 'ecp' : method }),
    method: method === 'auto' ? 'auto' : parseMethod(method),
    auto: { validationFraction, candidates: typeof options.candidates === 'string' ? options.candidates : undefined },
    sparsity: parseFraction(String(options.sparsity), '--sparsity'),
    steps: parseInteger(String(options.steps), '--steps', 1),
    scope: parseChoice(String(options.scope), ['global', 'layer'], '--scope') as 'global' | 'layer',
    maxLayerSparsity: parseFraction(String(options.maxLayerSparsity), '--max-layer-sparsity'),
    missingBias: parseChoice(String(options.missingBias), ['add', 'skip'], '--missing-bias') as 'add' | 'skip',
    layerSparsity: layerSparsityOption(options),
  };
}

/** Parses a method name. */
export function parseMethod(text: string, option = '--method'): MethodName {
  return parseChoice(text, methodNames, option) as MethodName;
}

function parseChoice(text: string, choices: readonly string[], option: string): string {
  if (!choices.includes(text)) throw new UsageError(`${option} must be one of ${choices.join(', ')}, got '${text}'.`);
  return text;
}

/** Parses a fraction in [0, 1]; also accepts a percentage such as `90%`. */
export function parseFraction(text: string, option: string): number {
  const percent = text.trim().endsWith('%');
  const value = Number(percent ? text.trim().slice(0, -1) : text);
  const fraction = percent ? value / 100 : value;
  if (text.trim() === '' || !Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
    throw new UsageError(`${option} must be a fraction between 0 and 1 (or a percentage such as 90%), got '${text}'.`);
  }
  return fraction;
}

/** Parses a comma-separated list of fractions. */
export function parseFractionList(text: string, option: string): number[] {
  return text.split(',').map((part) => parseFraction(part.trim(), option));
}

function parseInteger(text: string, option: string, minimum: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum) {
    throw new UsageError(`${option} must be a whole number of at least ${minimum}, got '${text}'.`);
  }
  return value;
}

/** Parses `START:END` into a half-open range; a missing END means the last sample. */
export function parseRange(text: string, option: string): [number, number] {
  try {
    return parseRows(text);
  } catch (error) {
    throw new UsageError(`${option}: ${(error as Error).message}`);
  }
}

function numberList(text: string | undefined, option: string): number | number[] | undefined {
  if (text === undefined) return undefined;
  try {
    return parseNumberList(text);
  } catch (error) {
    throw new UsageError(`${option}: ${(error as Error).message}`);
  }
}

function layerSparsityOption(options: RawOptions): Record<string, number> | undefined {
  if (typeof options.layerSparsity !== 'string') return undefined;
  if (options.scope !== 'layer') throw new UsageError('--layer-sparsity needs --scope layer.');
  return parseLayerSparsity(options.layerSparsity);
}

function parseLayerSparsity(text: string): Record<string, number> {
  const entries = text.split(',').map((part) => {
    const [name, value] = part.split('=');
    if (!name || value === undefined) {
      throw new UsageError(`--layer-sparsity must look like dense=0.5,dense_1=0.8, got '${text}'.`);
    }
    return [name.trim(), parseFraction(value, '--layer-sparsity')] as const;
  });
  return Object.fromEntries(entries);
}
