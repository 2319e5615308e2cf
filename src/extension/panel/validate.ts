/**
 * Validation of messages from the panel's webview. The webview is treated as untrusted input:
 * every field is checked for type and range, and nothing it sends is used as a file path.
 */
import { methodNames, type MethodName } from '../../core/reports';
import {
  requestMethods,
  type DataForm,
  type ExportForm,
  type FileRole,
  type RequestMethod,
  type SaveForm,
  type SparsityMap,
  type WebviewMessage,
  type WireRegion,
} from '../../shared/protocol';

/** A message from the webview that failed validation. */
export class InvalidMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidMessageError';
  }
}

/** Largest export the host writes, so a broken webview cannot fill the disk. */
export const maxExportBytes = 32 * 1024 * 1024;

type Fields = Record<string, unknown>;

function fail(message: string): never {
  throw new InvalidMessageError(`Invalid panel message: ${message}`);
}

function record(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} is not an object.`);
  return value as Fields;
}

function integer(value: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${what} must be an integer in [${min}, ${max}].`);
  }
  return value;
}

function fraction(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) fail(`${what} must be in [0, 1].`);
  return value;
}

function text(value: unknown, what: string, maxLength = 200): string {
  if (typeof value !== 'string' || value.length > maxLength) fail(`${what} must be a string of at most ${maxLength} characters.`);
  return value;
}

function optionalText(value: unknown, what: string): string | undefined {
  return value === undefined ? undefined : text(value, what, 100_000);
}

function method(value: unknown): MethodName {
  if (!methodNames.includes(value as MethodName)) fail(`method must be one of ${methodNames.join(', ')}.`);
  return value as MethodName;
}

function fractions(value: unknown): number[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 50) fail('sparsities must be a list of 1 to 50 fractions.');
  return value.map((item, i) => fraction(item, `sparsities[${i}]`));
}

function sparsityMap(value: unknown): SparsityMap {
  const fields = record(value, 'sparsities');
  const result: SparsityMap = {};
  for (const [name, sparsity] of Object.entries(fields)) result[text(name, 'layer name')] = fraction(sparsity, `sparsity of ${name}`);
  return result;
}

function region(value: unknown): WireRegion {
  const fields = record(value, 'region');
  return {
    row0: integer(fields.row0, 'row0'),
    row1: integer(fields.row1, 'row1'),
    col0: integer(fields.col0, 'col0'),
    col1: integer(fields.col1, 'col1'),
  };
}

function dataForm(value: unknown): DataForm {
  const fields = record(value, 'data form');
  const form: DataForm = {};
  for (const key of ['scale', 'shift', 'mean', 'std', 'rows', 'evalRows', 'labelColumn'] as const) {
    form[key] = optionalText(fields[key], key);
  }
  if (fields.method !== undefined) form.method = method(fields.method);
  return form;
}

function saveForm(value: unknown): SaveForm {
  const fields = record(value, 'save settings');
  if (fields.scope !== 'global' && fields.scope !== 'layer') fail('scope must be "global" or "layer".');
  return {
    scope: fields.scope,
    sparsity: fraction(fields.sparsity, 'sparsity'),
    layerSparsity: sparsityMap(fields.layerSparsity),
    steps: integer(fields.steps, 'steps', 1, 100),
    method: method(fields.method),
  };
}

function exportForm(value: unknown): ExportForm {
  const fields = record(value, 'export');
  const name = text(fields.name, 'name', 100);
  if (fields.format === 'png') {
    if (!(fields.content instanceof ArrayBuffer) || fields.content.byteLength > maxExportBytes) {
      fail(`a PNG export must be an ArrayBuffer of at most ${maxExportBytes} bytes.`);
    }
    const head = new Uint8Array(fields.content, 0, Math.min(4, fields.content.byteLength));
    if (head[0] !== 0x89 || head[1] !== 0x50 || head[2] !== 0x4e || head[3] !== 0x47) fail('the PNG export is not a PNG image.');
    return { format: 'png', name, content: fields.content };
  }
  if (fields.format === 'svg' || fields.format === 'csv') {
    return { format: fields.format, name, content: text(fields.content, 'content', maxExportBytes) };
  }
  return fail('export format must be png, svg or csv.');
}

const roles: readonly FileRole[] = ['data', 'labels', 'evalData', 'evalLabels'];

function params(methodName: RequestMethod, value: unknown): unknown {
  const fields = record(value, 'params');
  switch (methodName) {
    case 'tile':
      return {
        layer: text(fields.layer, 'layer'),
        region: region(fields.region),
        maxRows: integer(fields.maxRows, 'maxRows', 1, 512),
        maxCols: integer(fields.maxCols, 'maxCols', 1, 512),
      };
    case 'point':
      return { layer: text(fields.layer, 'layer'), unit: integer(fields.unit, 'unit'), input: integer(fields.input, 'input') };
    case 'evaluate':
      return { sparsities: sparsityMap(fields.sparsities) };
    case 'pickFile':
      if (!roles.includes(fields.role as FileRole)) fail(`role must be one of ${roles.join(', ')}.`);
      return { role: fields.role };
    case 'loadData':
      return dataForm(fields);
    case 'sensitivity':
      return { method: method(fields.method), sparsities: fractions(fields.sparsities) };
    case 'compare':
      return { sparsities: fractions(fields.sparsities), steps: integer(fields.steps, 'steps', 1, 100) };
    case 'save':
      return saveForm(fields);
    case 'export':
      return exportForm(fields);
  }
}

/** Checks a raw message from the webview and returns it typed; throws InvalidMessageError. */
export function parseWebviewMessage(raw: unknown): WebviewMessage {
  const fields = record(raw, 'message');
  switch (fields.type) {
    case 'ready':
      return { type: 'ready' };
    case 'cancel':
      return { type: 'cancel', id: integer(fields.id, 'id') };
    case 'request': {
      const id = integer(fields.id, 'id');
      if (!requestMethods.includes(fields.method as RequestMethod)) fail(`unknown method ${JSON.stringify(fields.method)}.`);
      const methodName = fields.method as RequestMethod;
      return { type: 'request', id, method: methodName, params: params(methodName, fields.params) } as WebviewMessage;
    }
    default:
      return fail(`unknown type ${JSON.stringify(fields.type)}.`);
  }
}

