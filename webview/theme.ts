/**
 * Colours from the VS Code theme. The webview's body carries the theme's CSS variables
 * (`--vscode-*`) and a class `vscode-light`, `vscode-dark` or `vscode-high-contrast`.
 */
import { parseColour, type Rgb } from '../src/core/view/colour';

/** Every colour the heatmaps and charts use, resolved to RGB. */
export interface Palette {
  background: Rgb;
  foreground: Rgb;
  border: Rgb;
  blue: Rgb;
  red: Rgb;
  green: Rgb;
  yellow: Rgb;
  orange: Rgb;
  purple: Rgb;
  /** Importance ramp: background → blue → foreground, so contrast grows with importance in every theme. */
  importance: Rgb[];
  /** Series colours of the charts, in order. */
  series: string[];
}

function variable(name: string, fallback: string): Rgb {
  const value = getComputedStyle(document.body).getPropertyValue(name);
  return parseColour(value) ?? (parseColour(fallback) as Rgb);
}

/** Reads the current theme's colours. */
export function readPalette(): Palette {
  const background = variable('--vscode-editor-background', '#1e1e1e');
  const foreground = variable('--vscode-editor-foreground', '#d4d4d4');
  const palette = {
    background,
    foreground,
    border: variable('--vscode-panel-border', '#808080'),
    blue: variable('--vscode-charts-blue', '#3794ff'),
    red: variable('--vscode-charts-red', '#f14c4c'),
    green: variable('--vscode-charts-green', '#89d185'),
    yellow: variable('--vscode-charts-yellow', '#cca700'),
    orange: variable('--vscode-charts-orange', '#d18616'),
    purple: variable('--vscode-charts-purple', '#b180d7'),
  };
  const css = (colour: Rgb) => `rgb(${colour.map(Math.round).join(', ')})`;
  return {
    ...palette,
    importance: [background, palette.blue, foreground],
    series: [palette.blue, palette.red, palette.green, palette.yellow, palette.purple, palette.orange, foreground].map(css),
  };
}

/** Returns a CSS colour for an RGB value. */
export function cssColour(colour: Rgb): string {
  return `rgb(${colour.map(Math.round).join(', ')})`;
}

/** Calls `listener` when the theme changes (VS Code swaps the body's class and variables). */
export function onThemeChange(listener: () => void): void {
  const observer = new MutationObserver(() => listener());
  observer.observe(document.body, { attributes: true, attributeFilter: ['class', 'style'] });
}
