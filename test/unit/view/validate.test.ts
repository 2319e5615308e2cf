import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildPanelHtml } from '../../../src/extension/panel/html';
import { InvalidMessageError, parseWebviewMessage } from '../../../src/extension/panel/validate';

describe('panel message validation', () => {
  it('accepts a tile request', () => {
    const message = parseWebviewMessage({
      type: 'request',
      id: 3,
      method: 'tile',
      params: { layer: 'dense', region: { row0: 0, row1: 4, col0: 0, col1: 8 }, maxRows: 4, maxCols: 8, extra: 'dropped' },
    });
    assert.deepEqual(message, {
      type: 'request',
      id: 3,
      method: 'tile',
      params: { layer: 'dense', region: { row0: 0, row1: 4, col0: 0, col1: 8 }, maxRows: 4, maxCols: 8 },
    });
  });

  it('rejects unknown methods and types', () => {
    assert.throws(() => parseWebviewMessage({ type: 'request', id: 1, method: 'eval', params: {} }), /unknown method "eval"/);
    assert.throws(() => parseWebviewMessage({ type: 'shell' }), /unknown type "shell"/);
    assert.throws(() => parseWebviewMessage(null), InvalidMessageError);
  });

  it('rejects out-of-range values', () => {
    const evaluate = (sparsity: unknown) => parseWebviewMessage({ type: 'request', id: 1, method: 'evaluate', params: { sparsities: { dense: sparsity } } });
    assert.throws(() => evaluate(1.5), /sparsity of dense must be in \[0, 1\]/);
    assert.throws(() => evaluate('0.5'), /sparsity of dense/);
    assert.throws(() => parseWebviewMessage({ type: 'cancel', id: -1 }), /id must be an integer/);
    const tile = { layer: 'd', region: { row0: 0, row1: 1, col0: 0, col1: 1 }, maxRows: 10_000, maxCols: 1 };
    assert.throws(() => parseWebviewMessage({ type: 'request', id: 1, method: 'tile', params: tile }), /maxRows/);
  });

  it('save carries no path', () => {
    const params = { scope: 'global', sparsity: 0.9, layerSparsity: {}, steps: 10, method: 'ecp', output: '/etc/passwd' };
    const message = parseWebviewMessage({ type: 'request', id: 2, method: 'save', params });
    assert.equal(message.type, 'request');
    assert.ok(!('output' in (message as { params: object }).params));
    assert.throws(() => parseWebviewMessage({ type: 'request', id: 2, method: 'save', params: { ...params, steps: 0 } }), /steps/);
  });

  it('exports check their content', () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0]).buffer;
    const ok = parseWebviewMessage({ type: 'request', id: 1, method: 'export', params: { format: 'png', name: 'c', content: png } });
    assert.equal(ok.type, 'request');
    const text = { format: 'exe', name: 'c', content: 'MZ' };
    assert.throws(() => parseWebviewMessage({ type: 'request', id: 1, method: 'export', params: text }), /png, svg or csv/);
    const notPng = { format: 'png', name: 'c', content: 'text' };
    assert.throws(() => parseWebviewMessage({ type: 'request', id: 1, method: 'export', params: notPng }), /ArrayBuffer/);
  });
});

describe('panel html', () => {
  const page = { cspSource: 'https://file+.vscode-resource.example', scriptUri: 'https://x/dist/webview.js', styleUri: 'https://x/dist/webview.css', title: 'A <b> & "c"' };

  it('csp forbids inline scripts', () => {
    const html = buildPanelHtml(page, 'abc123');
    const csp = /content="([^"]+)"/.exec(html)?.[1] ?? '';
    assert.match(csp, /^default-src 'none'; /);
    assert.match(csp, /script-src 'nonce-abc123'(;|$)/);
    assert.doesNotMatch(csp, /script-src[^;]*unsafe/);
    assert.match(html, /<script nonce="abc123" src="https:\/\/x\/dist\/webview.js"><\/script>/);
    assert.equal((html.match(/<script/g) ?? []).length, 1);
  });

  it('nonce is fresh per render', () => {
    const first = /nonce-([^']+)'/.exec(buildPanelHtml(page))?.[1];
    const second = /nonce-([^']+)'/.exec(buildPanelHtml(page))?.[1];
    assert.ok(first);
    assert.ok(first.length >= 16);
    assert.notEqual(first, second);
  });

  it('escapes the title', () => {
    assert.match(buildPanelHtml(page), /<title>A &#60;b&#62; &#38; &#34;c&#34;<\/title>/);
  });
});
