/** Resolves the label column and the feature columns of a CSV file from names or indices. */
import { DataError } from '../errors';

/** The columns of a CSV file: how many there are and their header names, if any. */
export interface ColumnLayout {
  count: number;
  /** Header names, or null when the file has no header. */
  names: string[] | null;
}

/** Names column `index` for messages: `column 3 ("RM")`, or `column 3` without a header. */
export function columnName(layout: ColumnLayout, index: number): string {
  const name = layout.names?.[index];
  return name ? `column ${index} (${JSON.stringify(name)})` : `column ${index}`;
}

/**
 * Resolves one column by header name, else by zero-based index; a negative index counts from
 * the end, so -1 is the last column.
 */
export function resolveColumn(
  file: string,
  layout: ColumnLayout,
  spec: string | number,
  option: string,
): number {
  const text = String(spec).trim();
  const byName = layout.names?.indexOf(text) ?? -1;
  if (byName >= 0) {
    if (layout.names!.lastIndexOf(text) !== byName) {
      throw new DataError(
        file,
        `${option}: the header names ${JSON.stringify(text)} twice; choose the column by index.`,
      );
    }
    return byName;
  }
  if (/^-?\d+$/.test(text)) {
    const index = Number(text) < 0 ? layout.count + Number(text) : Number(text);
    if (index < 0 || index >= layout.count) {
      throw new DataError(
        file,
        `${option}: column ${text} is out of range; the file has ${layout.count} columns (0-${layout.count - 1}).`,
      );
    }
    return index;
  }
  throw new DataError(
    file,
    `${option}: no column named ${JSON.stringify(text)}; ${listColumns(layout)}.`,
  );
}

/**
 * Parses a feature list such as `0-12`, `CRIM,ZN,5` or `1,3-4`. Ranges are inclusive and
 * names are matched exactly before a token is read as an index or a range.
 */
export function resolveFeatureColumns(file: string, layout: ColumnLayout, spec: string): number[] {
  const columns: number[] = [];
  for (const rawToken of spec.split(',')) {
    const token = rawToken.trim();
    if (token.length === 0)
      throw new DataError(file, `--features: empty entry in ${JSON.stringify(spec)}.`);
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(token);
    if (range && !layout.names?.includes(token)) {
      const first = resolveColumn(file, layout, range[1], '--features');
      const last = resolveColumn(file, layout, range[2], '--features');
      if (last < first)
        throw new DataError(
          file,
          `--features: range ${token} runs backwards; write ${last}-${first}.`,
        );
      for (let column = first; column <= last; column++) columns.push(column);
    } else {
      columns.push(resolveColumn(file, layout, token, '--features'));
    }
  }
  const seen = new Set<number>();
  for (const column of columns) {
    if (seen.has(column))
      throw new DataError(file, `--features: ${columnName(layout, column)} is listed twice.`);
    seen.add(column);
  }
  return columns;
}

function listColumns(layout: ColumnLayout): string {
  if (!layout.names) {
    return `the first line read has no header, so choose columns by index 0-${layout.count - 1} or skip the lines above the header with --skip-lines`;
  }
  const firstNames = layout.names.slice(0, 12).map((name) => JSON.stringify(name));
  const more = layout.names.length > 12 ? `, and ${layout.names.length - 12} more` : '';
  return `the header has ${firstNames.join(', ')}${more}`;
}
