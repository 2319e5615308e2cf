/** Entry of the PruneLens extension: the log channel, the compute worker, commands and editor. */
import * as vscode from 'vscode';
import { registerCommands, modelEditorViewType } from './commands';
import type { Services } from './host';
import { ModelEditorProvider } from './model-editor';
import type { WorkerOptions } from './rpc-protocol';
import { readSettings } from './settings';
import { WorkerClient } from './worker-client';

/** API returned by `activate`, which the integration tests use to reach the worker and errors. */
export interface PruneLensApi {
  worker: WorkerClient;
  shownErrors: string[];
}

/** Called by VS Code on the first PruneLens command or model file opened in the editor. */
export function activate(context: vscode.ExtensionContext): PruneLensApi {
  const log = vscode.window.createOutputChannel('PruneLens', { log: true });
  const services: Services = {
    context,
    log,
    worker: createWorker(context, log),
    shownErrors: [],
    untrustedConsent: false,
  };
  context.subscriptions.push(
    log,
    { dispose: () => void services.worker.dispose() },
    ...registerCommands(services),
    vscode.window.registerCustomEditorProvider(
      modelEditorViewType,
      new ModelEditorProvider(services),
      {
        webviewOptions: { retainContextWhenHidden: true },
        supportsMultipleEditorsPerDocument: true,
      },
    ),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration('prunelens.backend')) return;
      void services.worker.restart(workerOptions(context));
      log.info(`Backend preference changed to ${readSettings().backend}; the worker restarts.`);
    }),
  );
  log.info(
    `PruneLens ${context.extension.packageJSON.version} activated (${vscode.env.appHost}, ${vscode.env.remoteName ?? 'local'}).`,
  );
  return { worker: services.worker, shownErrors: services.shownErrors };
}

function createWorker(
  context: vscode.ExtensionContext,
  log: vscode.LogOutputChannel,
): WorkerClient {
  const script = vscode.Uri.joinPath(context.extensionUri, 'dist', 'worker.js').fsPath;
  return new WorkerClient(script, workerOptions(context), log);
}

function workerOptions(context: vscode.ExtensionContext): WorkerOptions {
  return {
    backend: readSettings().backend,
    testHooks: context.extensionMode === vscode.ExtensionMode.Test,
  };
}

/** Called by VS Code on shutdown; the subscriptions stop the worker. */
export function deactivate(): void {}
