/** Helpers of the integration tests: corpus paths, a scratch workspace, the extension API. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PruneLensApi } from '../../src/extension/extension';

/** The repository root (tests run from out/test/vscode). */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** The shared corpus of published models and data, beside the repository. */
export const corpus = path.resolve(repoRoot, '..', 'shared', 'corpus');

/** The extension's id (`publisher.name`). */
export const extensionId = 'prunelens.prunelens';

/** Activates PruneLens and returns its API. */
export async function activateExtension(): Promise<PruneLensApi> {
  const extension = vscode.extensions.getExtension<PruneLensApi>(extensionId);
  assert.ok(extension, `${extensionId} is not installed`);
  return extension.activate();
}

/** Returns the opened workspace folder; the harness opens a throwaway one. */
export function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test run has no workspace folder');
  return folder.uri.fsPath;
}

/** Creates a fresh folder inside the workspace. */
export function freshFolder(label: string): string {
  return fs.mkdtempSync(path.join(workspaceRoot(), `${label}-`));
}

/** Copies corpus files into a fresh workspace folder (the corpus is read-only); returns the first. */
export function copyFromCorpus(label: string, ...relative: string[]): vscode.Uri {
  const folder = freshFolder(label);
  const copies = relative.map((file) => {
    const target = path.join(folder, path.basename(file));
    fs.copyFileSync(path.join(corpus, file), target);
    fs.chmodSync(target, 0o644);
    return target;
  });
  return vscode.Uri.file(copies[0]);
}

/** Returns data options for iris (scikit-learn's CSV: a count line, then the label in column 4). */
export function irisData() {
  return {
    data: path.join(corpus, 'data', 'sklearn-iris', 'iris.csv'),
    skipLines: 1,
    labelColumn: 4,
  };
}

/** Returns data options for the first `samples` MNIST test digits, scaled to [0, 1]. */
export function mnistData(samples = 1000) {
  const folder = path.join(corpus, 'data', 'mnist-test');
  return {
    data: path.join(folder, 't10k-images-idx3-ubyte.gz'),
    labels: path.join(folder, 't10k-labels-idx1-ubyte.gz'),
    scale: 1 / 255,
    rows: [0, samples] as [number, number],
  };
}

/** Polls `check` every 50 ms until it returns true or `timeoutMs` passes. */
export async function waitFor(
  check: () => boolean,
  timeoutMs: number,
  description: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Files in a folder whose names look like leftovers of an interrupted write. */
export function temporaryFiles(folder: string): string[] {
  return fs.readdirSync(folder).filter((name) => name.endsWith('.tmp') || name.startsWith('.'));
}
