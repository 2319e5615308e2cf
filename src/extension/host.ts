/** Services the commands and the editor share: the log channel, the worker, and common prompts. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CancelledError, oneLine } from '../core/errors';
import { isModelFileName } from './prune-options';
import { readSettings } from './settings';
import type { RequestOptions, WorkerClient } from './worker-client';

/** Shared services of the extension. */
export interface Services {
  context: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
  worker: WorkerClient;
  /** Error messages shown to the user, newest last; integration tests read them. */
  shownErrors: string[];
  /** True once the user allowed computation in this untrusted workspace. */
  untrustedConsent: boolean;
}

/** Values a test or a caller can pass in place of the prompts they replace. */
export interface CommonAnswers {
  /** Allow (true) or refuse (false) computation in an untrusted workspace without asking. */
  allowUntrusted?: boolean;
  /** Load (true) or skip (false) a file above the size limit without asking. */
  allowLarge?: boolean;
  /** Cancel the job when its progress reaches this fraction (tests of Cancel). */
  cancelAtFraction?: number;
}

const mebibyte = 1024 * 1024;

const openFilters = {
  'Model files': ['h5', 'keras', 'onnx', 'safetensors', 'pt', 'pth', 'save', 'json'],
};

/**
 * Returns the model a command applies to: its argument, else the file of the active editor tab,
 * else one the user picks. Undefined when the user dismisses the dialog.
 */
export async function resolveModelUri(argument: unknown): Promise<vscode.Uri | undefined> {
  if (argument instanceof vscode.Uri) return argument;
  if (typeof argument === 'string' && argument !== '') return vscode.Uri.file(argument);
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText) {
    if (isModelFileName(input.uri.path)) return input.uri;
  }
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    filters: openFilters,
    openLabel: 'Choose Model',
    title: 'PruneLens: choose a model file',
  });
  return picked?.[0];
}

/** Load options of a model request that the user's confirmation decides. */
export interface ModelLoad {
  /** Largest model the worker loads, in bytes; set when the user agreed to load a larger one. */
  maxBytes?: number;
}

/**
 * Checks that computation on `uri` may start: in an untrusted workspace the user must allow it,
 * and a model above the size setting, weight files included, needs a confirmation. Returns the
 * load options for the request, or undefined when the user declines.
 */
export async function confirmCompute(
  services: Services,
  uri: vscode.Uri,
  answers: CommonAnswers = {},
): Promise<ModelLoad | undefined> {
  if (!vscode.workspace.isTrusted && !services.untrustedConsent) {
    if (answers.allowUntrusted === false) return undefined;
    const allow = 'Allow in This Session';
    const choice = answers.allowUntrusted
      ? allow
      : await vscode.window.showWarningMessage(
          'This workspace is not trusted. PruneLens reads model and data files from it and computes on them in a worker thread.',
          { modal: true },
          allow,
        );
    if (choice !== allow) return undefined;
    services.untrustedConsent = true;
  }
  const size = await modelBytes(services, uri);
  if (!(await confirmLoad(path.basename(uri.fsPath), size, answers))) return undefined;
  if (size <= readSettings().confirmLoadAboveMB * mebibyte) return {};
  // The user agreed to load this size, so the worker's own limit must not reject it.
  return { maxBytes: Math.ceil(size / mebibyte) * mebibyte };
}

/**
 * Returns the size of a model with its weight files (TF.js shards, ONNX external data), which
 * the worker measures, or the main file's size when the worker cannot.
 */
async function modelBytes(services: Services, uri: vscode.Uri): Promise<number> {
  try {
    return await services.worker.request<number>('modelSize', { model: uri.fsPath });
  } catch (error) {
    services.log.warn(`Could not measure ${uri.fsPath} with its weight files: ${oneLine(error)}`);
    return (await vscode.workspace.fs.stat(uri)).size;
  }
}

/**
 * Asks, in a modal dialog with Load and Cancel, before loading a file of `size` bytes above the
 * prunelens.confirmLoadAboveMB setting. Returns false when the user or `answers` declines.
 */
export async function confirmLoad(
  name: string,
  size: number,
  answers: CommonAnswers = {},
): Promise<boolean> {
  const limitMB = readSettings().confirmLoadAboveMB;
  if (limitMB <= 0 || size <= limitMB * 1024 * 1024 || answers.allowLarge) return true;
  if (answers.allowLarge === false) return false;
  const load = 'Load';
  const choice = await vscode.window.showWarningMessage(
    `${name} is ${(size / 1024 / 1024).toFixed(0)} MB, above the prunelens.confirmLoadAboveMB setting (${limitMB} MB). Loading it may take a while and use much memory.`,
    { modal: true },
    load,
  );
  return choice === load;
}

/**
 * Runs a worker method under a progress notification with a Cancel button. Rejects with
 * CancelledError when the user cancels.
 */
export function runWithProgress<T>(
  services: Services,
  title: string,
  method: string,
  params: unknown,
  answers: CommonAnswers = {},
): Promise<T> {
  const options = { location: vscode.ProgressLocation.Notification, title, cancellable: true };
  return Promise.resolve(
    vscode.window.withProgress(options, async (progress, token) => {
      const controller = new AbortController();
      token.onCancellationRequested(() => controller.abort());
      let reported = 0;
      const request: RequestOptions = {
        signal: controller.signal,
        onProgress: (event) => {
          const percent = Math.min(100, Math.max(0, Math.round(event.fraction * 100)));
          progress.report({
            increment: Math.max(0, percent - reported),
            message: `${percent}% ${event.message}`,
          });
          reported = Math.max(reported, percent);
          if (
            answers.cancelAtFraction !== undefined &&
            event.fraction >= answers.cancelAtFraction
          ) {
            controller.abort();
          }
        },
      };
      return services.worker.request<T>(method, params, request);
    }),
  );
}

/** Shows an error as one line (nothing for a cancel) and logs it. */
export function reportError(services: Services, action: string, error: unknown): void {
  if (error instanceof CancelledError) {
    services.log.info(`${action}: cancelled.`);
    return;
  }
  const message = oneLine(error);
  services.log.error(`${action} failed: ${message}`);
  services.shownErrors.push(message);
  void vscode.window.showErrorMessage(`PruneLens: ${message}`);
}

/** Formats seconds for logs and messages. */
export function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(2)} s` : `${seconds.toFixed(1)} s`;
}
