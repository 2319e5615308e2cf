/**
 * Architecture files that accompany a Keras weights-only `.h5` (`model.to_json()` or
 * `model.to_yaml()` output saved beside `model.save_weights()`).
 */
import { readArchitectureText } from '../io';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { YAML11_SCHEMA, defineSequenceTag, load } from 'js-yaml';
import { ModelFormatError } from '../errors';
import { resolveInside } from '../io';

const sidecarExtensions = ['.json', '.yaml', '.yml'];

/**
 * Finds the architecture file for a weights-only model: `architecture` when given, otherwise a
 * `.json`, `.yaml` or `.yml` file with the model's base name, or with the base name of the model
 * PruneLens pruned it from (`mlp.pruned-80.h5` finds `mlp.json`). Returns null when none exists.
 */
export async function findArchitectureFile(
  modelFile: string,
  architecture?: string,
): Promise<string | null> {
  if (architecture) return path.resolve(architecture);
  const base = modelFile.slice(0, modelFile.length - path.extname(modelFile).length);
  const bases = [base, base.replace(/\.pruned-[\d.]+$/, '')];
  for (const candidate of bases.flatMap((name) => sidecarExtensions.map((extension) => name + extension))) {
    try {
      if (!(await fs.stat(candidate)).isFile()) continue;
    } catch {
      // Not there: try the next extension.
      continue;
    }
    // A sidecar found by name must not be a link that leads out of the model's folder.
    return resolveInside(modelFile, path.dirname(modelFile), path.basename(candidate));
  }
  return null;
}

/** PyYAML writes Python tuples (Keras shapes) as `!!python/tuple [null, 784]`. */
const pythonTupleTag = defineSequenceTag<unknown[]>('tag:yaml.org,2002:python/tuple', {
  create: () => [],
  addItem: (items, item) => {
    items.push(item);
  },
  identify: () => false,
});

const kerasYamlSchema = YAML11_SCHEMA.withTags(pythonTupleTag);

/** Reads a Keras architecture from a JSON or YAML file. */
export async function readArchitectureFile(file: string): Promise<unknown> {
  const text = await readArchitectureText(file);
  const isYaml = /\.ya?ml$/i.test(file) || !/^\s*[{[]/.test(text);
  try {
    return isYaml ? load(text, { schema: kerasYamlSchema }) : JSON.parse(text);
  } catch (error) {
    const kind = isYaml ? 'YAML' : 'JSON';
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ModelFormatError(file, `is not valid ${kind} (${detail}).`, { cause: error });
  }
}
