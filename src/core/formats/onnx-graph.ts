/** An index over an ONNX GraphProto: constants, producers, consumers, attributes, weight feeds. */
import { onnx } from 'onnx-proto';
import { ModelFormatError } from '../errors';
import {
  DataType,
  dataTypeName,
  isFloatType,
  tensorDims,
  toNumber,
  type Int64,
  type TensorContext,
} from './onnx-tensor';

/** Location of a stored tensor in the ModelProto, so that the writer can replace its bytes. */
export type TensorSite =
  | { kind: 'initializer'; index: number }
  | { kind: 'constant-node'; nodeIndex: number; attributeIndex: number }
  | { kind: 'attribute-list' };

/** A tensor with a value fixed in the file: an initializer or the output of a Constant node. */
export interface StoredTensor {
  name: string;
  proto: onnx.ITensorProto;
  site: TensorSite;
}

/** A weight as the dense node reads it: a stored tensor behind Transpose, Cast and Identity nodes. */
export interface WeightFeed {
  tensor: StoredTensor;
  /** Number of 2-D transposes between the stored tensor and the node. */
  transposes: number;
  /** Data type the node computes in (the `to` of a Cast on the way, else the stored type). */
  computeType: number;
}

/** Operators whose outputs depend on their input's shape only, never on its values. */
const shapeOnlyOps = new Set(['Shape', 'Size']);

/** Lookup tables over one graph, built once per model. */
export class GraphIndex {
  readonly nodes: onnx.INodeProto[];
  readonly constants = new Map<string, StoredTensor>();
  readonly producers = new Map<string, number>();
  readonly consumers = new Map<string, number[]>();
  readonly valueShapes = new Map<string, (number | null)[]>();
  private readonly staticMemo = new Map<string, boolean>();

  constructor(
    readonly ctx: TensorContext,
    readonly graph: onnx.IGraphProto,
  ) {
    this.nodes = graph.node ?? [];
    (graph.initializer ?? []).forEach((proto, index) => {
      this.constants.set(proto.name ?? '', {
        name: proto.name ?? '',
        proto,
        site: { kind: 'initializer', index },
      });
    });
    this.nodes.forEach((node, nodeIndex) => this.indexNode(node, nodeIndex));
    for (const info of [
      ...(graph.valueInfo ?? []),
      ...(graph.output ?? []),
      ...(graph.input ?? []),
    ]) {
      const dims = info.type?.tensorType?.shape?.dim;
      if (info.name && dims) this.valueShapes.set(info.name, dims.map(dimValue));
    }
  }

  private indexNode(node: onnx.INodeProto, nodeIndex: number): void {
    for (const output of node.output ?? []) if (output) this.producers.set(output, nodeIndex);
    for (const input of new Set(node.input ?? [])) {
      if (!input) continue;
      const list = this.consumers.get(input) ?? [];
      list.push(nodeIndex);
      this.consumers.set(input, list);
    }
    if (node.opType === 'Constant' && isDefaultDomain(node) && node.output?.[0]) {
      const constant = constantTensor(node, nodeIndex);
      if (constant) this.constants.set(node.output[0], constant);
    }
  }

  /** Returns the nodes that read a tensor's values (Shape and Size read only its shape). */
  valueConsumers(name: string): number[] {
    return (this.consumers.get(name) ?? []).filter(
      (index) => !shapeOnlyOps.has(this.nodes[index].opType ?? ''),
    );
  }

  /** Returns true when a tensor is fixed before the model runs: stored, or computed from stored tensors and shapes. */
  isStatic(name: string): boolean {
    const known = this.staticMemo.get(name);
    if (known !== undefined) return known;
    this.staticMemo.set(name, false);
    let result = this.constants.has(name);
    const producer = this.producers.get(name);
    if (!result && producer !== undefined) {
      const node = this.nodes[producer];
      result =
        shapeOnlyOps.has(node.opType ?? '') ||
        (node.input ?? []).every((input) => input === '' || this.isStatic(input));
    }
    this.staticMemo.set(name, result);
    return result;
  }

  /**
   * Follows a weight input back through Transpose, Cast and Identity nodes to a stored float
   * tensor. Returns a sentence saying why not when the weight is computed some other way.
   */
  resolveWeight(name: string): WeightFeed | string {
    let current = name;
    let transposes = 0;
    let castTo: number | null = null;
    for (;;) {
      const stored = this.constants.get(current);
      if (stored) {
        const dataType = stored.proto.dataType ?? 0;
        if (!isFloatType(dataType)) {
          return `its weight '${name}' has data type ${dataTypeName(dataType)}, not a float type`;
        }
        return { tensor: stored, transposes, computeType: castTo ?? dataType };
      }
      const producer = this.producers.get(current);
      if (producer === undefined) return `its weight '${name}' is not a stored tensor`;
      const node = this.nodes[producer];
      const step = weightStep(node);
      if (typeof step === 'string') return `its weight '${name}' comes from ${step}`;
      transposes += step.transposes;
      castTo ??= step.castTo;
      current = node.input?.[0] ?? '';
    }
  }

  /** Returns the error for a graph that is not a single chain from input to output. */
  notAChain(message: string): ModelFormatError {
    return new ModelFormatError(
      this.ctx.modelFile,
      `${message}; PruneLens reads ONNX models whose layers form one chain from the input to the output.`,
    );
  }
}

function weightStep(node: onnx.INodeProto): { transposes: number; castTo: number | null } | string {
  const label = `${node.opType} node '${node.name ?? ''}'`;
  if (!isDefaultDomain(node)) return label;
  switch (node.opType) {
    case 'Identity':
      return { transposes: 0, castTo: null };
    case 'Cast': {
      const to = intAttribute(node, 'to', 0);
      return isFloatType(to) ? { transposes: 0, castTo: to } : label;
    }
    case 'Transpose': {
      const perm = intsAttribute(node, 'perm');
      return perm === null || (perm.length === 2 && perm[0] === 1 && perm[1] === 0)
        ? { transposes: 1, castTo: null }
        : label;
    }
    default:
      return label;
  }
}

function constantTensor(node: onnx.INodeProto, nodeIndex: number): StoredTensor | null {
  const name = node.output?.[0] ?? '';
  const attributes = node.attribute ?? [];
  const attributeIndex = attributes.findIndex(
    (attribute) => attribute.name === 'value' && attribute.t,
  );
  if (attributeIndex >= 0) {
    const proto = { ...attributes[attributeIndex].t, name } as onnx.ITensorProto;
    return { name, proto, site: { kind: 'constant-node', nodeIndex, attributeIndex } };
  }
  const site: TensorSite = { kind: 'attribute-list' };
  const floats = attributes.find((a) => a.name === 'value_floats' || a.name === 'value_float');
  if (floats) {
    const values = floats.name === 'value_float' ? [floats.f ?? 0] : (floats.floats ?? []);
    const dims = floats.name === 'value_float' ? [] : [values.length];
    return { name, site, proto: { name, dims, dataType: DataType.float, floatData: values } };
  }
  const ints = attributes.find((a) => a.name === 'value_ints' || a.name === 'value_int');
  if (ints) {
    const values =
      ints.name === 'value_int'
        ? [toNumber(ints.i as Int64)]
        : (ints.ints ?? []).map((v) => toNumber(v as Int64));
    const dims = ints.name === 'value_int' ? [] : [values.length];
    return { name, site, proto: { name, dims, dataType: DataType.int64, int64Data: values } };
  }
  return null;
}

function dimValue(dim: onnx.TensorShapeProto.IDimension): number | null {
  const value = toNumber(dim.dimValue as Int64 | null | undefined);
  return dim.dimParam || value <= 0 ? null : value;
}

/** Returns true for nodes of the standard `ai.onnx` operator set. */
export function isDefaultDomain(node: onnx.INodeProto): boolean {
  return !node.domain || node.domain === 'ai.onnx';
}

function findAttribute(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((attribute) => attribute.name === name);
}

/** Returns an integer attribute, or the operator's default. */
export function intAttribute(node: onnx.INodeProto, name: string, fallback: number): number {
  const attribute = findAttribute(node, name);
  return attribute ? toNumber(attribute.i as Int64) : fallback;
}

/** Returns a float attribute, or the operator's default. */
export function floatAttribute(node: onnx.INodeProto, name: string, fallback: number): number {
  const attribute = findAttribute(node, name);
  return attribute ? (attribute.f ?? fallback) : fallback;
}

/** Returns a float-list attribute, or null when absent. */
export function floatsAttribute(node: onnx.INodeProto, name: string): number[] | null {
  const attribute = findAttribute(node, name);
  return attribute ? (attribute.floats ?? []) : null;
}

/** Returns an integer-list attribute, or null when absent. */
export function intsAttribute(node: onnx.INodeProto, name: string): number[] | null {
  const attribute = findAttribute(node, name);
  return attribute ? (attribute.ints ?? []).map((value) => toNumber(value as Int64)) : null;
}

/** Returns a tensor's dims; a short alias used by the chain builder's messages. */
export function dimsOf(tensor: StoredTensor): number[] {
  return tensorDims(tensor.proto);
}
