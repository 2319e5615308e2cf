/**
 * Keras layer configurations (from .h5 `model_config`, .keras `config.json`, TF.js
 * `modelTopology` and `model.to_json()`/`to_yaml()` sidecars) turned into a flat chain of layer
 * specs. Handles Sequential models (Keras 2 and 3, including the oldest layout where `config` is
 * a bare list) and functional models whose graph is a single chain.
 */
import { ModelFormatError } from '../errors';

/** One Keras layer as written in the model's configuration. */
export interface KerasLayerSpec {
  name: string;
  className: string;
  config: Record<string, unknown>;
}

/** A model configuration reduced to a chain of layers. */
export interface KerasArchitecture {
  /** `Sequential`, `Functional` or `Model`. */
  modelClass: string;
  /** Shape of one input sample, or null when the configuration does not state it. */
  inputShape: number[] | null;
  /** The layers in execution order, without InputLayer; in file order when the graph branches. */
  layers: KerasLayerSpec[];
  /** The reason a functional graph is not a single chain, or null when it is one. */
  branching: string | null;
}

type JsonObject = Record<string, unknown>;

/** Returns true for a plain JSON object. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reduces a Keras model configuration to a chain of layers, or throws a ModelFormatError. */
export function parseKerasArchitecture(topology: unknown, file: string): KerasArchitecture {
  let model = topology;
  // TF.js `modelTopology` and Keras `to_json()` output may wrap the model in `model_config`.
  if (isObject(model) && isObject(model.model_config)) model = model.model_config;
  if (!isObject(model) || typeof model.class_name !== 'string') {
    throw new ModelFormatError(
      file,
      'has no Keras model configuration (expected an object with "class_name" and "config").',
    );
  }
  const modelClass = model.class_name;
  const config = model.config;
  const entries = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(entries)) {
    throw new ModelFormatError(file, `has a ${modelClass} configuration without a list of layers.`);
  }
  const isFunctional = entries.some((entry) => isObject(entry) && 'inbound_nodes' in entry);
  const chain = isFunctional ? chainOrder(entries, file) : { order: entries, problem: null };
  const architecture = buildArchitecture(modelClass, chain.order, file);
  architecture.inputShape ??= builtInputShape(config, chain.order[0]);
  architecture.branching = chain.problem;
  return architecture;
}

/** Reads the input shape a built model records: Keras 2 `build_input_shape`, Keras 3 `build_config`. */
function builtInputShape(config: unknown, firstEntry: unknown): number[] | null {
  const fromModel = isObject(config) ? sampleShape(config.build_input_shape) : null;
  if (fromModel) return fromModel;
  const buildConfig = isObject(firstEntry) ? firstEntry.build_config : undefined;
  return isObject(buildConfig) ? sampleShape(buildConfig.input_shape) : null;
}

function buildArchitecture(
  modelClass: string,
  entries: unknown[],
  file: string,
): KerasArchitecture {
  let inputShape: number[] | null = null;
  const layers: KerasLayerSpec[] = [];
  for (const [index, entry] of entries.entries()) {
    const spec = toLayerSpec(entry, index, file);
    if (layers.length === 0 && inputShape === null) inputShape = declaredInputShape(spec.config);
    if (spec.className === 'InputLayer') continue;
    layers.push(spec);
  }
  return { modelClass, inputShape, layers, branching: null };
}

function toLayerSpec(entry: unknown, index: number, file: string): KerasLayerSpec {
  if (!isObject(entry) || typeof entry.class_name !== 'string') {
    throw new ModelFormatError(
      file,
      `has an invalid layer entry at position ${index} (no class_name).`,
    );
  }
  const config = isObject(entry.config) ? entry.config : {};
  const name =
    typeof config.name === 'string' ? config.name : String(entry.name ?? `layer_${index}`);
  return { name, className: entry.class_name, config };
}

/** Reads `batch_shape` (Keras 3), `batch_input_shape` (Keras 2, TF.js) or a build input shape. */
function declaredInputShape(config: JsonObject): number[] | null {
  const candidates = [config.batch_shape, config.batch_input_shape];
  for (const candidate of candidates) {
    const shape = sampleShape(candidate);
    if (shape) return shape;
  }
  return null;
}

function sampleShape(value: unknown): number[] | null {
  if (!Array.isArray(value) || value.length < 2) return null;
  const dimensions = value.slice(1);
  if (!dimensions.every((dimension) => Number.isInteger(dimension) && dimension > 0)) return null;
  return dimensions as number[];
}

/** Layers in chain order, or in file order with the reason the graph is not a chain. */
interface ChainOrder {
  order: unknown[];
  problem: string | null;
}

/**
 * Orders the layers of a functional model along its single chain from input to output. When a
 * layer has several inputs, is called twice, or the graph branches, returns the file's order
 * (which Keras writes in topological order) and the reason.
 */
function chainOrder(entries: unknown[], file: string): ChainOrder {
  const byName = new Map<string, unknown>();
  const nextOf = new Map<string, string[]>();
  const starts: string[] = [];
  const unchanged = (problem: string) => ({ order: entries, problem });
  for (const [index, entry] of entries.entries()) {
    const spec = toLayerSpec(entry, index, file);
    const name = isObject(entry) && typeof entry.name === 'string' ? entry.name : spec.name;
    byName.set(name, entry);
    const inbound = inboundLayers((entry as JsonObject).inbound_nodes);
    if (inbound.length === 0) {
      starts.push(name);
    } else if (inbound.length > 1 || inbound[0].length !== 1) {
      return unchanged(`layer ${name} is called more than once or takes several inputs`);
    } else {
      const previous = inbound[0][0];
      nextOf.set(previous, [...(nextOf.get(previous) ?? []), name]);
    }
  }
  if (starts.length !== 1) return unchanged(`it has ${starts.length} inputs`);

  const order: unknown[] = [];
  for (let name: string | undefined = starts[0]; name !== undefined;) {
    order.push(byName.get(name));
    const next: string[] = nextOf.get(name) ?? [];
    if (next.length > 1) return unchanged(`the output of ${name} feeds ${next.join(' and ')}`);
    name = next[0];
  }
  if (order.length !== entries.length) {
    return unchanged('some layers are not on the path from the input to the output');
  }
  return { order, problem: null };
}

/** Returns the error for a functional graph that PruneLens cannot treat as a chain. */
export function notAChain(file: string, reason: string): ModelFormatError {
  return new ModelFormatError(
    file,
    `is a functional model that is not a single chain of layers: ${reason}; ` +
      'PruneLens reads models whose layers run one after another.',
  );
}

/** Returns, per call of a layer, the names of the layers whose outputs it takes. */
function inboundLayers(nodes: unknown): string[][] {
  if (!Array.isArray(nodes)) return [];
  return nodes.map((node) => {
    // Keras 2 and TF.js: a node is a list of [layer, node index, tensor index, kwargs].
    if (Array.isArray(node)) {
      return node.filter(Array.isArray).map((tensor) => String(tensor[0]));
    }
    // Keras 3: {args: [...], kwargs: {...}} with `keras_history` inside each tensor.
    const names: string[] = [];
    collectKerasHistory(node, names);
    return names;
  });
}

function collectKerasHistory(value: unknown, names: string[]): void {
  if (Array.isArray(value)) {
    for (const item of value) collectKerasHistory(item, names);
  } else if (isObject(value)) {
    const history = isObject(value.config) ? value.config.keras_history : undefined;
    if (value.class_name === '__keras_tensor__' && Array.isArray(history)) {
      names.push(String(history[0]));
      return;
    }
    for (const item of Object.values(value)) collectKerasHistory(item, names);
  }
}

/**
 * Converts a Keras class name to the snake_case name Keras 3 gives auto-named objects
 * (`BatchNormalization` → `batch_normalization`, `LeakyReLU` → `leaky_re_lu`).
 */
export function toSnakeCase(className: string): string {
  return className
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}
