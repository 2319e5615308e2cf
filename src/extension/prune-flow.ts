/**
 * The Prune Model… command: method, sparsity, scope, steps and calibration data (or the saved
 * recipe), then pruning in the worker with progress and Cancel, and a notification with the
 * before/after metrics.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DataOptions } from '../core/data/types';
import { UsageError } from '../core/errors';
import { methodNames, type PruneMethod, type PruneReport } from '../core/reports';
import { chooseCalibrationData } from './calibration';
import { confirmCompute, runWithProgress, type CommonAnswers, type Services } from './host';
import { parseSparsity, prunedOutputPath, reportPathFor, sparsityLabel } from './prune-options';
import type { Recipe } from './recipe';
import { loadRecipe, saveRecipe } from './recipe-store';
import { formatPruneReport, formatMetrics } from './report-format';
import { readSettings } from './settings';
import { pruneSettings, type PruneJob } from './job-requests';

/** Values that replace the prompts of Prune Model… (tests and other commands pass them). */
export interface PruneAnswers extends CommonAnswers {
  /** Use the saved recipe without asking (true), or ask every question again (false). */
  useRecipe?: boolean;
  method?: PruneMethod;
  sparsity?: number;
  scope?: 'global' | 'layer';
  steps?: number;
  data?: DataOptions;
  /** Output path; default `<name>.pruned-<percent>.<ext>` beside the model. */
  output?: string;
  /** Replace an existing output without asking (true) or never (false). */
  overwrite?: boolean;
}

/** Methods that do not need calibration data to score. */
const dataFreeMethods: readonly PruneMethod[] = ['magnitude', 'random'];

/** Runs the flow; returns the report, or undefined when the user stops at a prompt. */
export async function pruneModel(
  services: Services,
  modelUri: vscode.Uri,
  answers: PruneAnswers = {},
): Promise<PruneReport | undefined> {
  const load = await confirmCompute(services, modelUri, answers);
  if (!load) return undefined;
  const choices = await collectChoices(services, modelUri, answers);
  if (!choices) return undefined;
  const output = await chooseOutput(modelUri, choices.sparsity, answers);
  if (!output) return undefined;
  await saveRecipe(modelUri, { ...choices });
  const job: PruneJob = {
    request: {
      model: modelUri.fsPath,
      ...load,
      data: choices.data,
      output: output.fsPath,
      overwrite: true,
    },
    settings: pruneSettings(choices),
  };
  const name = path.basename(modelUri.fsPath);
  services.log.info(
    `Pruning ${modelUri.fsPath}: ${choices.method}, ${sparsityLabel(choices.sparsity)}% ${choices.scope}, ${choices.steps} step(s), data ${choices.data?.data ?? 'none'}.`,
  );
  const title = `Pruning ${name} to ${sparsityLabel(choices.sparsity)}%`;
  const report = await runWithProgress<PruneReport>(services, title, 'prune', job, answers);
  services.log.info(
    `Wrote ${report.files.join(', ')} (${report.backend}, ${report.seconds.toFixed(2)} s); ` +
      `${formatMetrics(report.before.metrics)} → ${formatMetrics(report.after.metrics)}.`,
  );
  const reportUri = vscode.Uri.file(reportPathFor(report.output));
  await vscode.workspace.fs.writeFile(
    reportUri,
    new TextEncoder().encode(formatPruneReport(report)),
  );
  void showResult(report, reportUri);
  return report;
}

/** The choices of one prune run, as stored in the recipe. */
interface PruneChoices extends Recipe {
  method: PruneMethod;
  sparsity: number;
  scope: 'global' | 'layer';
  steps: number;
  data?: DataOptions;
}

async function collectChoices(
  services: Services,
  modelUri: vscode.Uri,
  answers: PruneAnswers,
): Promise<PruneChoices | undefined> {
  const recipe = await loadRecipe(modelUri);
  const scripted =
    answers.useRecipe === true || choiceKeys.some((key) => answers[key] !== undefined);
  if (scripted) return scriptedChoices(recipe, answers);
  if (recipe && isComplete(recipe)) {
    const useRecipe = await askUseRecipe(recipe);
    if (useRecipe === undefined) return undefined;
    if (useRecipe) return scriptedChoices(recipe, {});
  }
  const settings = readSettings();
  const method = await pickMethod(recipe?.method ?? settings.method);
  if (!method) return undefined;
  const sparsity = await pickSparsity(recipe?.sparsity);
  if (sparsity === undefined) return undefined;
  const scope = await pickScope(recipe?.scope ?? settings.scope);
  if (!scope) return undefined;
  const steps = await pickSteps(recipe?.steps ?? settings.steps);
  if (steps === undefined) return undefined;
  const data = await pickData(services, modelUri, method, recipe?.data);
  if (data === null) return undefined;
  return { ...recipe, version: 1, method, sparsity, scope, steps, data };
}

const choiceKeys = ['method', 'sparsity', 'scope', 'steps', 'data'] as const;

/**
 * Builds the choices without prompts from the caller's values, then the recipe, then the
 * settings. Used when a caller passes values, and for "Use saved recipe".
 */
function scriptedChoices(recipe: Recipe | undefined, answers: PruneAnswers): PruneChoices {
  const settings = readSettings();
  const method = answers.method ?? recipe?.method ?? settings.method;
  const sparsity = answers.sparsity ?? recipe?.sparsity;
  if (sparsity === undefined || !(sparsity > 0 && sparsity < 1)) {
    throw new UsageError(
      `Invalid sparsity ${JSON.stringify(sparsity)}; pass a number above 0 and below 1.`,
    );
  }
  const data = answers.data ?? recipe?.data;
  if (!data && !dataFreeMethods.includes(method)) {
    throw new UsageError(
      `The ${method} method needs calibration data; choose it with Select Calibration Data….`,
    );
  }
  return {
    ...recipe,
    version: 1,
    method,
    sparsity,
    scope: answers.scope ?? recipe?.scope ?? settings.scope,
    steps: answers.steps ?? recipe?.steps ?? settings.steps,
    data,
  };
}

function isComplete(recipe: Recipe): boolean {
  return (
    recipe.method !== undefined &&
    recipe.sparsity !== undefined &&
    (recipe.data !== undefined || dataFreeMethods.includes(recipe.method))
  );
}

/** Asks whether to reuse a complete recipe; undefined when dismissed. */
async function askUseRecipe(recipe: Recipe): Promise<boolean | undefined> {
  const summary =
    `${recipe.method}, ${sparsityLabel(recipe.sparsity ?? 0)}%, ` +
    `${recipe.steps ?? readSettings().steps} step(s), ${recipe.scope ?? readSettings().scope}` +
    (recipe.data ? `, data ${path.basename(recipe.data.data)}` : '');
  const use = { label: 'Use saved recipe', description: summary };
  const again = { label: 'Choose again…' };
  const picked = await vscode.window.showQuickPick([use, again], { title: 'Prune Model' });
  return picked === undefined ? undefined : picked === use;
}

const methodDescriptions: Record<string, string> = {
  ecp: 'elimination-compensation: importance with bias compensation (recommended)',
  auto: 'tries several methods on held-out calibration rows and keeps the best',
  magnitude: '|w|, needs no data',
  obd: 'optimal brain damage: w² E[s a²], no compensation',
  wanda: '|w| × ‖a‖, activation-aware magnitude',
  taylor: '|w ∂L/∂w|, needs labels',
  random: 'seeded random baseline',
};

async function pickMethod(preferred: PruneMethod): Promise<PruneMethod | undefined> {
  const order = ['ecp', 'auto', 'magnitude', 'obd', 'wanda', 'taylor', 'random'];
  const known: readonly string[] = [...methodNames, 'auto'];
  const available = order.filter((name) => known.includes(name)) as PruneMethod[];
  const items = available.map((name) => ({
    label: name === 'ecp' ? 'ecp (recommended)' : name,
    description:
      name === preferred && name !== 'ecp'
        ? `${methodDescriptions[name]}; last used`
        : methodDescriptions[name],
    method: name,
  }));
  const picked = await vscode.window.showQuickPick(items, { title: 'Pruning method' });
  return picked?.method;
}

async function pickSparsity(previous?: number): Promise<number | undefined> {
  const values = [0.5, 0.7, 0.8, 0.9, 0.95];
  const items: (vscode.QuickPickItem & { value?: number })[] = values.map((value) => ({
    label: `${sparsityLabel(value)}%`,
    description: value === previous ? 'last used' : undefined,
    value,
  }));
  items.push({
    label: 'Custom…',
    description: 'a fraction such as 0.85 or a percentage such as 85%',
  });
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Target sparsity (share of dense weights removed)',
  });
  if (!picked) return undefined;
  if (picked.value !== undefined) return picked.value;
  const text = await vscode.window.showInputBox({
    title: 'Target sparsity',
    prompt: 'A fraction between 0 and 1, or a percentage between 0% and 100%.',
    value: previous !== undefined ? String(previous) : '0.9',
    validateInput: (value) => {
      const parsed = parseSparsity(value);
      return typeof parsed === 'string' ? parsed : undefined;
    },
  });
  if (text === undefined) return undefined;
  const parsed = parseSparsity(text);
  return typeof parsed === 'number' ? parsed : undefined;
}

async function pickScope(preferred: 'global' | 'layer'): Promise<'global' | 'layer' | undefined> {
  const items = [
    {
      label: 'Global',
      description: 'one threshold over all dense layers',
      scope: 'global' as const,
    },
    {
      label: 'Per layer',
      description: 'the same sparsity in every dense layer',
      scope: 'layer' as const,
    },
  ];
  if (preferred === 'layer') items.reverse();
  return (await vscode.window.showQuickPick(items, { title: 'Scope' }))?.scope;
}

async function pickSteps(preferred: number): Promise<number | undefined> {
  const items = [
    {
      label: '10 steps (iterative)',
      description: 'recomputes the scores after each step; best results',
      steps: 10,
    },
    { label: '1 step (one-shot)', description: 'fastest', steps: 1 },
  ];
  if (preferred === 1) items.reverse();
  return (await vscode.window.showQuickPick(items, { title: 'Steps' }))?.steps;
}

/** Returns data options, undefined for "no data" (data-free methods), or null when dismissed. */
async function pickData(
  services: Services,
  modelUri: vscode.Uri,
  method: PruneMethod,
  saved: DataOptions | undefined,
): Promise<DataOptions | undefined | null> {
  const items: (vscode.QuickPickItem & { choice: 'saved' | 'choose' | 'none' })[] = [];
  if (saved)
    items.push({
      label: `Use ${path.basename(saved.data)}`,
      description: 'saved in the recipe',
      choice: 'saved',
    });
  items.push({
    label: 'Choose a data file…',
    description: 'CSV, .npy, .npz, JSON, MNIST IDX',
    choice: 'choose',
  });
  if (dataFreeMethods.includes(method)) {
    items.push({
      label: 'No data',
      description: `${method} needs none, but no metrics are measured`,
      choice: 'none',
    });
  }
  const picked = await vscode.window.showQuickPick(items, { title: 'Calibration data' });
  if (!picked) return null;
  if (picked.choice === 'saved') return saved;
  if (picked.choice === 'none') return undefined;
  return (await chooseCalibrationData(services, modelUri, saved)) ?? null;
}

async function chooseOutput(
  modelUri: vscode.Uri,
  sparsity: number,
  answers: PruneAnswers,
): Promise<vscode.Uri | undefined> {
  const output = vscode.Uri.file(answers.output ?? prunedOutputPath(modelUri.fsPath, sparsity));
  if (!(await exists(output)) || answers.overwrite === true) return output;
  if (answers.overwrite === false) return undefined;
  const replace = 'Replace';
  const other = 'Choose Another Name…';
  const choice = await vscode.window.showWarningMessage(
    `${path.basename(output.fsPath)} already exists. Replace it?`,
    { modal: true },
    replace,
    other,
  );
  if (choice === replace) return output;
  if (choice !== other) return undefined;
  return vscode.window.showSaveDialog({ defaultUri: output, title: 'Save the pruned model as' });
}

async function showResult(report: PruneReport, reportUri: vscode.Uri): Promise<void> {
  const openReport = 'Open Report';
  const reveal = 'Reveal in Explorer';
  const chosen = report.chosen ?? { method: report.method, steps: report.steps };
  const method =
    report.method === 'auto'
      ? `auto (chose ${chosen.method}, ${chosen.steps} step(s))`
      : report.method;
  const message =
    `Pruned to ${sparsityLabel(report.sparsity)}% with ${method}: ` +
    `${formatMetrics(report.before.metrics)} → ${formatMetrics(report.after.metrics)}. Saved ${path.basename(report.output)}.`;
  const choice = await vscode.window.showInformationMessage(message, openReport, reveal);
  if (choice === openReport) await vscode.window.showTextDocument(reportUri);
  if (choice === reveal)
    await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(report.output));
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
