/**
 * The `prunelens` command line. Exit codes: 0 success, 1 failure with a one-line cause on
 * stderr, 2 invalid arguments.
 */
import { Command, CommanderError, Option } from 'commander';
import { CancelledError, oneLine, UsageError } from '../core/errors';
import { checkOutputPath, removeTemporariesNow, writeFileAtomic } from '../core/io';
import {
  defaultCompareEntries,
  runCompare,
  runEvaluate,
  runInspect,
  runPrune,
  runScore,
  runSensitivity,
  type CompareEntry,
} from '../core/jobs';
import type { AutoSettings, DataRequest } from '../core/reports';
import {
  addDataOptions,
  addModelOptions,
  addScoreOptions,
  dataRequest,
  modelRequest,
  parseFractionList,
  parseMethod,
  pruneSettings,
  scoreSettings,
  type RawOptions,
} from './options';
import { printCompare, printEvaluate, printInspect, printPrune, printSensitivity } from './print';
import { ProgressLine } from './progress-line';

const defaultSparsities = '0.5,0.7,0.8,0.9,0.95';

/** Builds the command tree. */
export function buildProgram(): Command {
  const program = new Command('prunelens')
    .description('Prune fully-connected neural networks with elimination-compensation.')
    .version(readVersion())
    .exitOverride()
    .configureOutput({
      // Commander's own errors become one line, like every other failure.
      writeErr: (text) => process.stderr.write(text.replace(/^error: /, 'prunelens: ').replace(/\n(?=.)/g, ' ')),
      outputError: (text, write) => write(`${text.trim()} (see --help)\n`),
    });

  program
    .command('inspect')
    .description('List the layers, parameters and sparsity of a model.')
    .argument('<model>', 'model file')
    .option('--json', 'print JSON')
    .option('--activation <name>', 'activation for files without an architecture')
    .option('--architecture <file>', 'architecture file for weights-only models')
    .option('--max-size <MB>', 'largest model to load, in megabytes, weight files included (default 2048)')
    .action(async (model: string, options: RawOptions) => {
      const report = await runInspect(modelRequest(model, options));
      if (options.json) printJson(report);
      else printInspect(report);
    });

  const score = program
    .command('score')
    .description('Score every dense weight and write importance (and compensation) as JSON.')
    .argument('<model>', 'model file')
    .requiredOption('--out <file>', 'JSON file to write');
  addScoreOptions(addModelOptions(addDataOptions(score, false)), 'ecp');
  score.option('--force', 'replace an existing output file');
  score.option('--quiet', 'no progress line').action(async (model: string, options: RawOptions) => {
    const report = await withProgress(options, (task) =>
      runScore({ ...modelRequest(model, options), ...dataRequest(options) }, scoreSettings(options), task),
    );
    await checkOutputPath(String(options.out), Boolean(options.force));
    await writeFileAtomic(String(options.out), JSON.stringify(report));
    process.stderr.write(`wrote ${options.out} (${report.layers.length} layers, ${report.samples} samples, ${report.backend})\n`);
  });

  const prune = program
    .command('prune')
    .description('Prune a model and write the pruned copy in the same format.')
    .argument('<model>', 'model file')
    .requiredOption('--sparsity <p>', 'fraction of dense weights to remove, for example 0.9')
    .option('--steps <n>', 'iterative steps; 1 is one-shot', '10')
    .option('--scope <scope>', 'global (one threshold) or layer (each layer to the sparsity)', 'global')
    .option('--max-layer-sparsity <p>', 'cap on each layer\'s sparsity', '0.99')
    .option('--layer-sparsity <list>', 'per-layer targets with --scope layer, e.g. dense=0.5,dense_1=0.8')
    .addOption(new Option('--missing-bias <policy>', 'layers without bias: add a zero bias, or skip compensation').default('add'))
    .option('--validation-fraction <p>', 'with --method auto: share of the calibration rows held out to compare candidates', '0.2')
    .option('--candidates <list>', 'with --method auto: candidates to try, e.g. ecp,ecp-1,magnitude/layer (default: ecp, ecp-1, obd, wanda, magnitude, each global and per layer)')
    .option('--out <file>', 'output path (default: <name>.pruned-<percent>.<ext> beside the model)')
    .option('--force', 'replace an existing output file')
    .option('--json', 'print the report as JSON')
    .option('--quiet', 'no progress line');
  addScoreOptions(addModelOptions(addDataOptions(prune, false)), undefined);
  prune.action(async (model: string, options: RawOptions) => {
    const settings = pruneSettings(options);
    const request = { ...modelRequest(model, options), ...dataRequest(options), output: options.out as string | undefined, overwrite: Boolean(options.force) };
    const report = await withProgress(options, (task) => runPrune(request, settings, task));
    if (options.json) printJson(report);
    else printPrune(report);
  });

  const evaluate = program
    .command('evaluate')
    .description('Evaluate a model on data: accuracy and cross-entropy, or MSE and MAE.')
    .argument('<model>', 'model file')
    .option('--json', 'print JSON')
    .option('--quiet', 'no progress line');
  addModelOptions(addDataOptions(evaluate, true));
  evaluate.action(async (model: string, options: RawOptions) => {
    const request = { ...modelRequest(model, options), ...(dataRequest(options) as DataRequest) };
    const report = await withProgress(options, (task) => runEvaluate(request, task));
    if (options.json) printJson(report);
    else printEvaluate(report);
  });

  const sensitivity = program
    .command('sensitivity')
    .description('For each layer alone, the metric after pruning it to each sparsity.')
    .argument('<model>', 'model file')
    .option('--sparsities <list>', 'comma-separated fractions', '0.1,0.3,0.5,0.7,0.8,0.9,0.95')
    .option('--json', 'print JSON')
    .option('--quiet', 'no progress line');
  addScoreOptions(addModelOptions(addDataOptions(sensitivity, true)), 'ecp');
  sensitivity.action(async (model: string, options: RawOptions) => {
    const request = { ...modelRequest(model, options), ...(dataRequest(options) as DataRequest) };
    const settings = { ...scoreSettings(options), sparsities: parseFractionList(String(options.sparsities), '--sparsities') };
    const report = await withProgress(options, (task) => runSensitivity(request, settings, task));
    if (options.json) printJson(report);
    else printSensitivity(report);
  });

  const compare = program
    .command('compare')
    .description('Compare pruning methods at several sparsities on the data.')
    .argument('<model>', 'model file')
    .option('--methods <list>', 'methods, comma-separated; ecp:N is ECP in N steps, auto the automatic choice (default: all, ECP one-shot and in --steps, and auto)')
    .option('--validation-fraction <p>', 'share of the calibration rows auto holds out', '0.2')
    .option('--candidates <list>', 'candidates auto tries (see prune --help)')
    .option('--sparsities <list>', 'comma-separated fractions', defaultSparsities)
    .option('--steps <n>', 'steps of iterative ECP', '10')
    .option('--scope <scope>', 'global or layer', 'global')
    .option('--max-layer-sparsity <p>', 'cap on each layer\'s sparsity', '0.99')
    .option('--missing-bias <policy>', 'layers without bias: add or skip', 'add')
    .option('--json', 'print JSON')
    .option('--quiet', 'no progress line');
  addScoreOptions(addModelOptions(addDataOptions(compare, true)), null);
  compare.action(async (model: string, options: RawOptions) => {
    const request = { ...modelRequest(model, options), ...(dataRequest(options) as DataRequest) };
    const base = pruneSettings({ ...options, sparsity: '0', method: 'ecp' });
    const listed = typeof options.methods === 'string' ? options.methods.split(',').map((part) => part.trim()) : undefined;
    const withAuto = listed === undefined || listed.includes('auto');
    const entries = listed
      ? parseEntries(listed.filter((part) => part !== 'auto'), base.steps)
      : defaultCompareEntries(Boolean(request.data.labels || request.data.labelColumn !== undefined), base.steps);
    const sparsities = parseFractionList(String(options.sparsities), '--sparsities');
    const auto = withAuto ? { ...(base.auto as AutoSettings), steps: base.steps } : undefined;
    const { method: _method, ...rest } = base;
    const report = await withProgress(options, (task) => runCompare(request, { ...rest, entries, sparsities, auto }, task));
    if (options.json) printJson(report);
    else printCompare(report);
  });
  return program;
}

function parseEntries(parts: string[], steps: number): CompareEntry[] {
  return parts.map((part) => {
    const [name, count] = part.trim().split(':');
    const method = parseMethod(name, '--methods');
    let entrySteps = method === 'ecp' ? steps : 1;
    if (count !== undefined) entrySteps = Number(count);
    if (!Number.isInteger(entrySteps) || entrySteps < 1) throw new UsageError(`--methods: invalid step count in '${part}'.`);
    return { method, steps: entrySteps };
  });
}

type Task = { signal: AbortSignal; onProgress: (event: { fraction: number; message: string }) => void; backend?: 'auto' | 'node' | 'wasm' | 'cpu' };

/** Time a cancelled run gets to stop by itself before the process exits without it. */
const cancelGraceMs = 1000;

/**
 * Exits at once for a signal, removing the temporary files of any write in progress, which is
 * then never renamed into place.
 */
function exitForSignal(code: number, why: string): never {
  removeTemporariesNow();
  process.stderr.write(`\nprunelens: ${why}; unfinished output files were removed.\n`);
  process.exit(code);
}

async function withProgress<T>(options: RawOptions, run: (task: Task) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const line = new ProgressLine(process.stderr, Boolean(options.quiet));
  // Ctrl+C requests a stop. A second Ctrl+C, or a run still going after the grace time, exits.
  const onSigint = () => {
    if (controller.signal.aborted) exitForSignal(130, 'cancelled');
    controller.abort();
    setTimeout(() => exitForSignal(130, 'cancelled'), cancelGraceMs).unref();
  };
  process.on('SIGINT', onSigint);
  try {
    const backend = (options.backend ?? 'auto') as Task['backend'];
    return await run({ signal: controller.signal, onProgress: (event) => line.update(event), backend });
  } finally {
    process.off('SIGINT', onSigint);
    line.clear();
  }
}


function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

function readVersion(): string {
  try {
    // The package file sits two folders up from both src/cli and dist.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Runs the CLI with `argv` and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  // A reader that closes the pipe early, as `prunelens inspect m.h5 | head` does, is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
  });
  process.once('SIGTERM', () => exitForSignal(143, 'stopped by SIGTERM'));
  process.once('SIGHUP', () => exitForSignal(129, 'stopped by SIGHUP'));
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      const success = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help';
      return success ? 0 : 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`prunelens: ${oneLine(error)}\n`);
      return 2;
    }
    if (error instanceof CancelledError) {
      process.stderr.write('prunelens: cancelled; nothing was written.\n');
      return 1;
    }
    process.stderr.write(`prunelens: ${oneLine(error)}\n`);
    if (process.env.PRUNELENS_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
