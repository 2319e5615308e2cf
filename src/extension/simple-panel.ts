/**
 * The fallback model view: the summary from `inspect` as static HTML (no scripts) under a strict
 * Content-Security-Policy. The custom editor uses it when the full panel module is not built in.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { oneLine } from '../core/errors';
import type { InspectReport } from '../core/reports';
import { confirmCompute, runWithProgress, type Services } from './host';

/** Fills `panel` with the summary of the model at `uri`. */
export async function showSimplePanel(
  services: Services,
  uri: vscode.Uri,
  panel: vscode.WebviewPanel,
): Promise<void> {
  const name = path.basename(uri.fsPath);
  panel.webview.options = { enableScripts: false, localResourceRoots: [] };
  panel.webview.html = page(panel.webview, name, '<p>Reading the model…</p>');
  try {
    const load = await confirmCompute(services, uri);
    if (!load) {
      showMessagePanel(panel, uri, notAllowedMessage);
      return;
    }
    const report = await runWithProgress<InspectReport>(services, `Reading ${name}`, 'inspect', {
      model: uri.fsPath,
      ...load,
    });
    panel.webview.html = page(panel.webview, name, summaryHtml(report));
  } catch (error) {
    services.log.error(`Could not show ${uri.fsPath}: ${oneLine(error)}`);
    panel.webview.html = page(
      panel.webview,
      name,
      `<p class="error">${escapeHtml(oneLine(error))}</p>`,
    );
  }
}

/** Message of a panel whose model the user did not allow PruneLens to load. */
export const notAllowedMessage =
  'Not loaded: PruneLens reads this file only after you allow it. Reopen the file to be asked again.';

/** Shows one line of text in `panel`. */
export function showMessagePanel(
  panel: vscode.WebviewPanel,
  uri: vscode.Uri,
  message: string,
): void {
  panel.webview.options = { enableScripts: false, localResourceRoots: [] };
  panel.webview.html = page(
    panel.webview,
    path.basename(uri.fsPath),
    `<p>${escapeHtml(message)}</p>`,
  );
}

function summaryHtml(report: InspectReport): string {
  const rows = report.layers
    .map((layer) => {
      const shape = layer.units !== undefined ? `${layer.inputs ?? '?'} → ${layer.units}` : '';
      const cells = [
        layer.name,
        layer.type,
        shape,
        layer.activation ?? '',
        String(layer.params),
        layer.note ?? '',
      ];
      return `<tr>${cells.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  const notes = report.notes.map((note) => `<li>${escapeHtml(note)}</li>`).join('');
  return `
    <dl>
      <dt>Format</dt><dd>${escapeHtml(report.format)}</dd>
      <dt>Parameters</dt><dd>${report.params.toLocaleString('en-US')}</dd>
      <dt>Prunable dense weights</dt><dd>${report.prunable.toLocaleString('en-US')}</dd>
      <dt>Current sparsity</dt><dd>${(report.sparsity * 100).toFixed(1)}%</dd>
      <dt>Input shape</dt><dd>[${report.inputShape.join(', ')}]</dd>
    </dl>
    <table>
      <thead><tr><th>Layer</th><th>Type</th><th>Inputs → units</th><th>Activation</th><th>Parameters</th><th>Note</th></tr></thead>
      <tbody>${rows}</tbody>
    </table>
    ${notes ? `<ul class="notes">${notes}</ul>` : ''}
    <p>Run <em>Prune Model…</em> from the explorer's context menu or the command palette to prune it.</p>`;
}

function page(webview: vscode.Webview, title: string, body: string): string {
  const nonce = randomBytes(16).toString('base64');
  const csp = `default-src 'none'; style-src 'nonce-${nonce}'; img-src ${webview.cspSource};`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 1rem; }
  table { border-collapse: collapse; margin: 1rem 0; }
  th, td { text-align: left; padding: 2px 12px 2px 0; border-bottom: 1px solid var(--vscode-panel-border); }
  dt { font-weight: bold; float: left; clear: left; width: 14rem; }
  dd { margin-left: 14rem; }
  .error { color: var(--vscode-errorForeground); }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>`;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
