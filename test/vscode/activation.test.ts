import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activateExtension, extensionId } from './helpers';

const commandIds = [
  'prunelens.pruneModel',
  'prunelens.inspectModel',
  'prunelens.analyzeSensitivity',
  'prunelens.compareMethods',
  'prunelens.selectCalibrationData',
  'prunelens.openRecipe',
];

interface Manifest {
  contributes: {
    commands: { command: string; category: string }[];
    menus: Record<string, { command: string; when: string }[]>;
    customEditors: {
      viewType: string;
      priority: string;
      selector: { filenamePattern: string }[];
    }[];
  };
  capabilities: { untrustedWorkspaces: { supported: string } };
}

describe('activation', () => {
  it('activates and returns its API', async () => {
    const api = await activateExtension();
    assert.ok(vscode.extensions.getExtension(extensionId)?.isActive);
    assert.equal(typeof api.worker.request, 'function');
    assert.ok(Array.isArray(api.shownErrors));
  });

  it('registers every command', async () => {
    await activateExtension();
    const registered = await vscode.commands.getCommands(true);
    for (const id of commandIds) assert.ok(registered.includes(id), `${id} is not registered`);
  });

  it('contributes commands with a category', () => {
    const manifest = vscode.extensions.getExtension(extensionId)?.packageJSON as Manifest;
    const contributed = manifest.contributes.commands.map((command) => command.command).sort();
    assert.deepEqual(contributed, [...commandIds].sort());
    for (const command of manifest.contributes.commands)
      assert.equal(command.category, 'PruneLens');
  });

  it('shows menus only for model files', () => {
    const manifest = vscode.extensions.getExtension(extensionId)?.packageJSON as Manifest;
    const explorer = manifest.contributes.menus['explorer/context'];
    assert.equal(explorer.length, commandIds.length);
    const when = explorer[0].when;
    const pattern = new RegExp(/=~ \/(.*)\/i/.exec(when)?.[1] ?? 'missing', 'i');
    for (const name of [
      'a.h5',
      'b.keras',
      'c.onnx',
      'd.safetensors',
      'e.pt',
      'f.pth',
      'g.save',
      'model.json',
    ]) {
      assert.ok(pattern.test(name), `${name} should get the menu`);
    }
    for (const name of ['weights.json', 'notes.txt', 'h5', 'data.csv']) {
      assert.ok(!pattern.test(name), `${name} should not get the menu`);
    }
    const palette = manifest.contributes.menus.commandPalette.map((entry) => entry.command);
    assert.ok(
      palette.includes('prunelens.openRecipe'),
      'Open Recipe is not hidden without a model',
    );
  });

  it('declares limited untrusted support', () => {
    const manifest = vscode.extensions.getExtension(extensionId)?.packageJSON as Manifest;
    assert.equal(manifest.capabilities.untrustedWorkspaces.supported, 'limited');
  });

  it('registers the model editor', () => {
    const manifest = vscode.extensions.getExtension(extensionId)?.packageJSON as Manifest;
    const editors = manifest.contributes.customEditors;
    assert.ok(editors.every((editor) => editor.viewType === 'prunelens.modelEditor'));
    const byPriority = (priority: string) =>
      editors
        .filter((editor) => editor.priority === priority)
        .flatMap((editor) => editor.selector.map((s) => s.filenamePattern));
    assert.deepEqual(byPriority('default').sort(), [
      '*.h5',
      '*.keras',
      '*.onnx',
      '*.pt',
      '*.pth',
      '*.safetensors',
    ]);
    assert.ok(byPriority('option').includes('model.json'));
  });
});
