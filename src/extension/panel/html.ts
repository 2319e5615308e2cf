/** The one HTML builder of the model panel's webview. */
import { randomBytes } from 'node:crypto';

/** Links of the page: URIs already converted with `webview.asWebviewUri`. */
export interface PanelPage {
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  title: string;
}

/** Returns a fresh nonce for the page's script tag. */
export function createNonce(): string {
  return randomBytes(18).toString('base64');
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Builds the page: a Content-Security-Policy of `default-src 'none'`, the one bundled script
 * with a fresh nonce, styles and images only from the extension's `dist/` folder (`data:` and
 * `blob:` images for canvas exports), and nothing remote. Inline styles stay allowed because the
 * toolkit's web components set them; scripts never are.
 */
export function buildPanelHtml(page: PanelPage, nonce = createNonce()): string {
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${page.cspSource} 'unsafe-inline'`,
    `img-src ${page.cspSource} data: blob:`,
    `font-src ${page.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeHtml(page.styleUri)}">
<title>${escapeHtml(page.title)}</title>
</head>
<body>
<main id="app" aria-busy="true"><p>Loading the model…</p></main>
<script nonce="${nonce}" src="${escapeHtml(page.scriptUri)}"></script>
</body>
</html>
`;
}
