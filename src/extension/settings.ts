/** The `prunelens.*` settings. */
import * as vscode from 'vscode';
import { methodNames, type PruneMethod } from '../core/reports';

/** Settings as the extension uses them. */
export interface Settings {
  /** Default of Prune Model…; `auto` needs calibration data. */
  method: PruneMethod;
  steps: number;
  scope: 'global' | 'layer';
  backend: 'auto' | 'wasm' | 'cpu' | 'node';
  /** Files larger than this many megabytes need a confirmation before loading. */
  confirmLoadAboveMB: number;
  /** Calibration samples used at most (the first ones of the file). */
  calibrationSampleLimit: number;
}

/** Reads the current settings, falling back to defaults for invalid values. */
export function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration('prunelens');
  const method = config.get<string>('defaultMethod', 'ecp');
  const scope = config.get<string>('scope', 'global');
  const backend = config.get<string>('backend', 'auto');
  return {
    method: [...methodNames, 'auto'].includes(method) ? (method as PruneMethod) : 'ecp',
    steps: Math.max(1, Math.round(config.get<number>('steps', 10))),
    scope: scope === 'layer' ? 'layer' : 'global',
    backend: ['wasm', 'cpu', 'node'].includes(backend) ? (backend as Settings['backend']) : 'auto',
    confirmLoadAboveMB: Math.max(0, config.get<number>('confirmLoadAboveMB', 200)),
    calibrationSampleLimit: Math.max(
      1,
      Math.round(config.get<number>('calibrationSampleLimit', 2000)),
    ),
  };
}
