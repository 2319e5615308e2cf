/**
 * The read-only custom editor for model files. It shows the PruneLens panel when the panel module
 * is built in, and the static summary of simple-panel.ts otherwise.
 */
import * as vscode from 'vscode';
import { oneLine } from '../core/errors';
import type { DataOptions } from '../core/data/types';
import type { MethodName } from '../core/reports';
import { chooseCalibrationData } from './calibration';
import { confirmCompute, type Services } from './host';
import { loadRecipe, saveRecipe } from './recipe-store';
import { notAllowedMessage, showMessagePanel, showSimplePanel } from './simple-panel';
import type { WorkerClient } from './worker-client';

/** Signature of `openModelPanel` in panel/index.ts (the options used here). */
type OpenModelPanel = (
  context: vscode.ExtensionContext,
  uri: vscode.Uri,
  worker: WorkerClient,
  options: {
    webviewPanel: vscode.WebviewPanel;
    log: vscode.LogOutputChannel;
    data?: DataOptions;
    method?: MethodName;
    chooseData: () => Promise<DataOptions | undefined>;
  },
) => unknown;

/** A model file opened in the editor; the panel reads the file itself. */
class ModelDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

/** Provides the `prunelens.modelEditor` view type. */
export class ModelEditorProvider implements vscode.CustomReadonlyEditorProvider<ModelDocument> {
  private readonly openModelPanel = loadPanelModule();

  constructor(private readonly services: Services) {}

  openCustomDocument(uri: vscode.Uri): ModelDocument {
    return new ModelDocument(uri);
  }

  async resolveCustomEditor(document: ModelDocument, panel: vscode.WebviewPanel): Promise<void> {
    this.services.log.info(`Opening ${document.uri.fsPath} in the PruneLens editor.`);
    if (this.openModelPanel) {
      try {
        if (!(await confirmCompute(this.services, document.uri))) {
          showMessagePanel(panel, document.uri, notAllowedMessage);
          return;
        }
        const recipe = await loadRecipe(document.uri).catch(() => undefined);
        this.openModelPanel(this.services.context, document.uri, this.services.worker, {
          webviewPanel: panel,
          log: this.services.log,
          data: recipe?.data,
          method: recipe?.method,
          chooseData: () => this.chooseData(document.uri),
        });
        return;
      } catch (error) {
        this.services.log.error(`The PruneLens panel failed (${oneLine(error)}); showing the summary instead.`);
      }
    }
    await showSimplePanel(this.services, document.uri, panel);
  }

  /** The panel's "choose data" button: the calibration prompts, saved in the recipe. */
  private async chooseData(uri: vscode.Uri): Promise<DataOptions | undefined> {
    const recipe = await loadRecipe(uri).catch(() => undefined);
    const data = await chooseCalibrationData(this.services, uri, recipe?.data);
    if (data) await saveRecipe(uri, { data });
    return data;
  }
}

/**
 * Loads `openModelPanel` from panel/index.ts when that module was bundled. The require sits in a
 * try block so that esbuild builds the extension without the module, and the editor then falls
 * back to the static summary.
 */
function loadPanelModule(): OpenModelPanel | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const panelModule = require('./panel/index') as { openModelPanel?: OpenModelPanel };
    return panelModule.openModelPanel;
  } catch {
    return undefined;
  }
}
