/** Reads and writes a model's recipe through `vscode.workspace.fs`. */
import * as vscode from 'vscode';
import { parseRecipe, serializeRecipe, type Recipe } from './recipe';
import { recipePathFor } from './prune-options';

/** Returns the recipe file of a model. */
export function recipeUriFor(modelUri: vscode.Uri): vscode.Uri {
  return modelUri.with({ path: recipePathFor(modelUri.path) });
}

/** Reads a model's recipe; undefined when there is none, an error when it is invalid. */
export async function loadRecipe(modelUri: vscode.Uri): Promise<Recipe | undefined> {
  const uri = recipeUriFor(modelUri);
  let bytes: Uint8Array;
  try {
    bytes = await vscode.workspace.fs.readFile(uri);
  } catch (error) {
    if (error instanceof vscode.FileSystemError && error.code === 'FileNotFound') return undefined;
    throw error;
  }
  return parseRecipe(new TextDecoder().decode(bytes), uri.fsPath);
}

/** Writes a model's recipe, merging `changes` into what is stored. */
export async function saveRecipe(modelUri: vscode.Uri, changes: Partial<Recipe>): Promise<Recipe> {
  const uri = recipeUriFor(modelUri);
  let stored: Recipe = { version: 1 };
  try {
    stored = (await loadRecipe(modelUri)) ?? stored;
  } catch {
    // An invalid recipe is replaced by the new choices.
  }
  const recipe: Recipe = { ...stored, ...changes, version: 1 };
  await vscode.workspace.fs.writeFile(
    uri,
    new TextEncoder().encode(serializeRecipe(recipe, uri.fsPath)),
  );
  return recipe;
}
