/**
 * The model panel in VS Code: creates or adopts a webview panel, sets its HTML, and connects it
 * to a PanelController. The custom editor passes its own WebviewPanel; commands let this module
 * create one.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { writeFileAtomic } from '../../core/io';
import type { FileRole, HostMessage } from '../../shared/protocol';
import { PanelController, type PanelOptions, type PanelWorker } from './controller';
import { buildPanelHtml } from './html';

export type { PanelOptions, PanelWorker } from './controller';

/** View type of panels this module creates. */
export const modelPanelViewType = 'prunelens.modelPanel';

const fileFilters: Record<FileRole, Record<string, string[]>> = {
  data: { 'Data files': ['csv', 'data', 'txt', 'tsv', 'gz', 'npy', 'npz', 'json', 'idx', 'ubyte'], 'All files': ['*'] },
  labels: { 'Label files': ['gz', 'idx', 'ubyte', 'npy', 'csv', 'json'], 'All files': ['*'] },
  evalData: { 'Data files': ['csv', 'data', 'txt', 'tsv', 'gz', 'npy', 'npz', 'json', 'idx', 'ubyte'], 'All files': ['*'] },
  evalLabels: { 'Label files': ['gz', 'idx', 'ubyte', 'npy', 'csv', 'json'], 'All files': ['*'] },
};

const saveFilters: Record<string, Record<string, string[]>> = {
  png: { 'PNG image': ['png'] },
  svg: { 'SVG image': ['svg'] },
  csv: { 'CSV table': ['csv'] },
};

/** Options of `openModelPanel`: the panel's own, and an existing webview panel to adopt. */
export interface OpenPanelOptions extends PanelOptions {
  /** The custom editor's panel; without it a new panel opens beside the active editor. */
  webviewPanel?: vscode.WebviewPanel;
  /** Log channel of the panel's messages: the extension's "PruneLens" channel. */
  log?: vscode.LogOutputChannel;
}

/** Returns the webview options of the panel: scripts on, resources from `dist/` only. */
export function panelWebviewOptions(context: vscode.ExtensionContext): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'dist')] };
}

/**
 * Opens the PruneLens panel for a model file and returns its controller. The panel is disposed
 * with its webview panel.
 */
export function openModelPanel(
  context: vscode.ExtensionContext,
  uri: vscode.Uri,
  worker: PanelWorker,
  options: OpenPanelOptions = {},
): PanelController {
  const title = `PruneLens: ${path.basename(uri.fsPath)}`;
  const panel =
    options.webviewPanel ??
    vscode.window.createWebviewPanel(modelPanelViewType, title, vscode.ViewColumn.Active, {
      ...panelWebviewOptions(context),
      retainContextWhenHidden: true,
    });
  const webview = panel.webview;
  webview.options = panelWebviewOptions(context);
  const dist = vscode.Uri.joinPath(context.extensionUri, 'dist');
  webview.html = buildPanelHtml({
    cspSource: webview.cspSource,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js')).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.css')).toString(),
    title,
  });
  const log = (message: string) => options.log?.info(message);
  const controller = new PanelController(uri.fsPath, worker, {
    post: (message: HostMessage) => void webview.postMessage(message),
    pickFile: (role, near) => pickFile(role, near),
    pickSaveTarget: (kind, suggested) => pickSaveTarget(kind, suggested),
    writeFile: (target, content) => writeFileAtomic(target, content),
    log,
  }, options);
  const subscription = webview.onDidReceiveMessage((message) => controller.handle(message));
  panel.onDidDispose(() => {
    subscription.dispose();
    controller.dispose();
  });
  return controller;
}

async function pickFile(role: FileRole, near: string): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    defaultUri: vscode.Uri.file(near),
    filters: fileFilters[role],
    title: role === 'data' || role === 'evalData' ? 'Choose a data file' : 'Choose a label file',
  });
  return picked?.[0]?.fsPath;
}

async function pickSaveTarget(kind: string, suggested: string): Promise<string | undefined> {
  const target = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.file(suggested),
    filters: saveFilters[kind],
    title: kind === 'model' ? 'Save the pruned model as' : `Export the chart as ${kind.toUpperCase()}`,
  });
  return target?.fsPath;
}
