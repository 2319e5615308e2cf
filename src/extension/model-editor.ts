/**
 * The read-only custom editor for model files. It shows the PruneLens panel, or the static
 * summary of simple-panel.ts when the panel cannot start.
 */
import * as vscode from 'vscode';
import { oneLine } from '../core/errors';
import type { DataOptions } from '../core/data/types';
import { chooseCalibrationData } from './calibration';
import { confirmCompute, type Services } from './host';
import { scoringMethod } from './job-requests';
import { openModelPanel } from './panel';
import { loadRecipe, saveRecipe } from './recipe-store';
import { notAllowedMessage, showMessagePanel, showSimplePanel } from './simple-panel';

/** A model file opened in the editor; the panel reads the file itself. */
class ModelDocument implements vscode.CustomDocument {
  constructor(readonly uri: vscode.Uri) {}
  dispose(): void {}
}

/** Provides the `prunelens.modelEditor` view type. */
export class ModelEditorProvider implements vscode.CustomReadonlyEditorProvider<ModelDocument> {
  constructor(private readonly services: Services) {}

  openCustomDocument(uri: vscode.Uri): ModelDocument {
    return new ModelDocument(uri);
  }

  async resolveCustomEditor(document: ModelDocument, panel: vscode.WebviewPanel): Promise<void> {
    this.services.log.info(`Opening ${document.uri.fsPath} in the PruneLens editor.`);
    if (!(await confirmCompute(this.services, document.uri))) {
      showMessagePanel(panel, document.uri, notAllowedMessage);
      return;
    }
    if (!(await this.panelIsBuilt())) {
      this.services.log.warn(
        'dist/webview.js is missing (run npm run build); showing the model summary only.',
      );
      await showSimplePanel(this.services, document.uri, panel);
      return;
    }
    try {
      const recipe = await loadRecipe(document.uri).catch(() => undefined);
      openModelPanel(this.services.context, document.uri, this.services.worker, {
        webviewPanel: panel,
        log: this.services.log,
        data: recipe?.data,
        method: recipe?.method && scoringMethod(recipe.method),
        chooseData: () => this.chooseData(document.uri),
      });
    } catch (error) {
      this.services.log.error(
        `The PruneLens panel failed (${oneLine(error)}); showing the summary instead.`,
      );
      await showSimplePanel(this.services, document.uri, panel);
    }
  }

  private async panelIsBuilt(): Promise<boolean> {
    const script = vscode.Uri.joinPath(this.services.context.extensionUri, 'dist', 'webview.js');
    return vscode.workspace.fs.stat(script).then(
      () => true,
      () => false,
    );
  }

  /** Runs the calibration prompts for the panel's data button and saves the choice in the recipe. */
  private async chooseData(uri: vscode.Uri): Promise<DataOptions | undefined> {
    const recipe = await loadRecipe(uri).catch(() => undefined);
    const data = await chooseCalibrationData(this.services, uri, recipe?.data);
    if (data) await saveRecipe(uri, { data });
    return data;
  }
}
