/** The PruneLens commands (other than the prune flow, which has its own module). */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DataOptions } from '../core/data/types';
import type { CompareReport, InspectReport, MethodName, SensitivityReport } from '../core/reports';
import { chooseCalibrationData, finishDataOptions } from './calibration';
import {
  confirmCompute,
  reportError,
  resolveModelUri,
  runWithProgress,
  type CommonAnswers,
  type Services,
} from './host';
import {
  curveSparsities,
  scoreSettings,
  scoringMethod,
  type CompareJob,
  type SensitivityJob,
} from './job-requests';
import { pruneModel, type PruneAnswers } from './prune-flow';
import { loadRecipe, recipeUriFor, saveRecipe } from './recipe-store';
import { formatCompareReport, formatSensitivityReport } from './report-format';
import { readSettings } from './settings';

/** The custom editor's view type. */
export const modelEditorViewType = 'prunelens.modelEditor';

/** Values that replace the prompts of the commands that need data. */
export interface DataAnswers extends CommonAnswers {
  data?: DataOptions;
  method?: MethodName;
  /** Standardize the features with the file's mean and standard deviation. */
  standardize?: boolean;
  /** Open the result in an editor (default true). */
  open?: boolean;
}

type CommandHandler = (services: Services, uri: vscode.Uri, answers: never) => Promise<unknown>;

const handlers: Record<string, [string, CommandHandler]> = {
  'prunelens.pruneModel': [
    'Prune Model',
    (services, uri, answers: PruneAnswers) => pruneModel(services, uri, answers),
  ],
  'prunelens.inspectModel': ['Inspect Model', inspectModel],
  'prunelens.analyzeSensitivity': ['Analyze Layer Sensitivity', analyzeSensitivity],
  'prunelens.compareMethods': ['Compare Pruning Methods', compareMethods],
  'prunelens.selectCalibrationData': ['Select Calibration Data', selectCalibrationData],
  'prunelens.openRecipe': ['Open Recipe', openRecipe],
};

/**
 * Registers every command. Each takes the model (a Uri, or the active editor's file, or a file the
 * user picks) and optional answers that replace its prompts, and returns its report.
 */
export function registerCommands(services: Services): vscode.Disposable[] {
  return Object.entries(handlers).map(([id, [action, handler]]) =>
    vscode.commands.registerCommand(id, async (argument?: unknown, answers?: unknown) => {
      try {
        const uri = await resolveModelUri(argument);
        if (!uri) return undefined;
        return await handler(services, uri, (isAnswers(answers) ? answers : {}) as never);
      } catch (error) {
        reportError(services, action, error);
        return undefined;
      }
    }),
  );
}

/** Explorer menus pass the selection as the second argument; plain objects carry prompt values. */
function isAnswers(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof vscode.Uri)
  );
}

async function inspectModel(
  services: Services,
  uri: vscode.Uri,
  answers: DataAnswers,
): Promise<InspectReport | undefined> {
  const load = await confirmCompute(services, uri, answers);
  if (!load) return undefined;
  const report = await runWithProgress<InspectReport>(
    services,
    `Reading ${path.basename(uri.fsPath)}`,
    'inspect',
    { model: uri.fsPath, ...load },
  );
  services.log.info(
    `Inspected ${uri.fsPath}: ${report.format}, ${report.layers.length} layers, ${report.params} parameters, ${(report.sparsity * 100).toFixed(1)}% zeros.`,
  );
  if (answers.open !== false)
    await vscode.commands.executeCommand('vscode.openWith', uri, modelEditorViewType);
  return report;
}

async function selectCalibrationData(
  services: Services,
  uri: vscode.Uri,
  answers: DataAnswers,
): Promise<DataOptions | undefined> {
  if (!(await confirmCompute(services, uri, answers))) return undefined;
  const recipe = await loadRecipe(uri).catch(() => undefined);
  const data = answers.data
    ? await finishDataOptions(services, answers.data, answers.standardize ?? false, answers)
    : await chooseCalibrationData(services, uri, recipe?.data);
  if (!data) return undefined;
  await saveRecipe(uri, { data });
  services.log.info(`Saved calibration data ${data.data} in ${recipeUriFor(uri).fsPath}.`);
  return data;
}

/** Returns the data for a job: the answers', the recipe's, or a new choice saved in the recipe. */
async function dataFor(
  services: Services,
  uri: vscode.Uri,
  answers: DataAnswers,
): Promise<DataOptions | undefined> {
  if (answers.data) return answers.data;
  const recipe = await loadRecipe(uri);
  if (recipe?.data) return recipe.data;
  const data = await chooseCalibrationData(services, uri);
  if (data) await saveRecipe(uri, { data });
  return data;
}

async function analyzeSensitivity(
  services: Services,
  uri: vscode.Uri,
  answers: DataAnswers,
): Promise<SensitivityReport | undefined> {
  const load = await confirmCompute(services, uri, answers);
  if (!load) return undefined;
  const data = await dataFor(services, uri, answers);
  if (!data) return undefined;
  const method =
    answers.method ?? scoringMethod((await loadRecipe(uri))?.method ?? readSettings().method);
  const settings = { ...scoreSettings(method), sparsities: curveSparsities };
  const job: SensitivityJob = { request: { model: uri.fsPath, ...load, data }, settings };
  const title = `Layer sensitivity of ${path.basename(uri.fsPath)}`;
  const report = await runWithProgress<SensitivityReport>(
    services,
    title,
    'sensitivity',
    job,
    answers,
  );
  services.log.info(
    `Sensitivity of ${uri.fsPath}: ${report.layers.length} layers, ${report.backend}, ${report.seconds.toFixed(2)} s.`,
  );
  if (answers.open !== false) await openMarkdown(formatSensitivityReport(uri.fsPath, report));
  return report;
}

async function compareMethods(
  services: Services,
  uri: vscode.Uri,
  answers: DataAnswers,
): Promise<CompareReport | undefined> {
  const load = await confirmCompute(services, uri, answers);
  if (!load) return undefined;
  const data = await dataFor(services, uri, answers);
  if (!data) return undefined;
  const steps = (await loadRecipe(uri))?.steps ?? readSettings().steps;
  const job: CompareJob = {
    request: { model: uri.fsPath, ...load, data },
    sparsities: curveSparsities,
    steps,
  };
  const title = `Comparing pruning methods on ${path.basename(uri.fsPath)}`;
  const report = await runWithProgress<CompareReport>(services, title, 'compare', job, answers);
  services.log.info(
    `Compared ${report.methods.length} methods on ${uri.fsPath}: ${report.backend}, ${report.seconds.toFixed(2)} s.`,
  );
  if (answers.open !== false) await openMarkdown(formatCompareReport(uri.fsPath, report));
  return report;
}

async function openRecipe(
  services: Services,
  uri: vscode.Uri,
  answers: DataAnswers,
): Promise<vscode.Uri> {
  const recipeUri = recipeUriFor(uri);
  if (!(await loadRecipe(uri).then(Boolean, () => true))) {
    const settings = readSettings();
    await saveRecipe(uri, {
      method: settings.method,
      steps: settings.steps,
      scope: settings.scope,
    });
    services.log.info(`Created ${recipeUri.fsPath} with the default settings.`);
  }
  if (answers.open !== false) await vscode.window.showTextDocument(recipeUri);
  return recipeUri;
}

async function openMarkdown(content: string): Promise<void> {
  const document = await vscode.workspace.openTextDocument({ language: 'markdown', content });
  await vscode.window.showTextDocument(document, { preview: false });
}
