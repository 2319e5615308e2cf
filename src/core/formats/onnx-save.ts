/**
 * Writes a changed network back into its ONNX ModelProto. Only the protobuf entries of changed
 * tensors, and of nodes that get a new bias, are re-encoded. Every other byte of the file is
 * copied as read, so the output is byte-identical to the input except in those entries and in
 * the length prefix of the graph that contains them.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { PruneLensError } from '../errors';
import { writeFileAtomic } from '../io';
import type { DenseLayer, Layer, Network } from '../model';
import { shapeSize } from '../model';
import { checkpoint, type TaskOptions } from '../progress';
import type { SaveReport } from './types';
import { transposeInto } from './float-matrix';
import {
  readKernel,
  type DenseBinding,
  type ParsedChain,
  type WeightBinding,
} from './onnx-chain';
import type { GraphIndex, StoredTensor } from './onnx-graph';
import {
  encodeFloats,
  encodeNewTensor,
  isExternal,
  readStoredBytes,
  rewriteTensor,
  tensorDims,
  type TensorContext,
  type TensorRewrite,
} from './onnx-tensor';
import {
  applyEdits,
  bytesField,
  concatBytes,
  editedParts,
  encodeBytesField,
  encodeStringField,
  fieldsNumbered,
  payloadOf,
  replaceFields,
  type ByteEdit,
  type FieldSpan,
} from './onnx-wire';

/** Field numbers used by the writer (onnx.proto). */
const Field = {
  modelGraph: 7,
  graphNode: 1,
  graphInitializer: 5,
  graphInput: 11,
  nodeInput: 1,
  nodeOutput: 2,
  nodeAttribute: 5,
  attributeTensor: 5,
} as const;

/** Everything the writer needs from the load. */
export interface OnnxSource {
  ctx: TensorContext;
  bytes: Uint8Array;
  model: onnx.ModelProto;
  index: GraphIndex;
  parsed: ParsedChain;
  /** The layers as loaded, to check that a saved network has the same ones. */
  layers: LoadedLayer[];
}

/**
 * A loaded layer as the writer records it: its kind, and a dense layer's size and a copy of its
 * bias. Kernels are not copied, because a save compares them with the stored tensors.
 */
export interface LoadedLayer {
  kind: Layer['kind'];
  units: number;
  inputs: number;
  bias: Float32Array | null;
}

/** Records each layer of a loaded network for the writer. */
export function loadedLayers(network: Network): LoadedLayer[] {
  return network.layers.map((layer) => {
    if (layer.kind !== 'dense') return { kind: layer.kind, units: 0, inputs: 0, bias: null };
    const bias = layer.bias?.slice() ?? null;
    return { kind: 'dense', units: layer.units, inputs: layer.inputs, bias };
  });
}

/** A tensor to store with new values (and possibly new dims). */
interface TensorWrite {
  tensor: StoredTensor;
  values: Float32Array;
  dims?: number[];
}

/** A bias the model did not have, for a Gemm input C or a new Add node. */
interface BiasAddition {
  binding: DenseBinding;
  layer: DenseLayer;
}

/** Writes `network` to `outPath` as ONNX, with an external data file when the source had one. */
export async function saveOnnx(
  source: OnnxSource,
  network: Network,
  outPath: string,
  options: TaskOptions = {},
): Promise<SaveReport> {
  checkSameLayers(source, network, outPath);
  const { writes, additions } = await collectChanges(source, network, outPath);
  await checkpoint(options.signal);
  const graphBytes = graphPayload(source);
  const plan = new GraphEdits(source, graphBytes);
  const notes: string[] = [];
  const files = [outPath];
  for (const write of writes.values()) plan.setValues(write);
  const external = await externalData(source, writes, outPath);
  if (external) {
    for (const [key, location] of external.locations) plan.setExternal(key, location);
    files.push(external.file);
  }
  for (const addition of additions) notes.push(plan.addBias(addition));
  // The model is written as parts, which spares two copies of a model that may be gigabytes.
  const model = editedParts(source.bytes, [
    { ...graphSpan(source), bytes: bytesField(Field.modelGraph, plan.finish()) },
  ]);
  await checkpoint(options.signal);
  if (external) await writeFileAtomic(external.file, external.parts);
  await writeFileAtomic(outPath, model);
  return { files, notes };
}

function checkSameLayers(source: OnnxSource, network: Network, outPath: string): void {
  const loaded = source.layers;
  const same =
    loaded.length === network.layers.length &&
    loaded.every((layer, i) => {
      const other = network.layers[i];
      if (layer.kind !== other.kind) return false;
      if (other.kind !== 'dense') return true;
      return (
        layer.units === other.units &&
        layer.inputs === other.inputs &&
        other.kernel.length === layer.units * layer.inputs
      );
    });
  if (!same) {
    throw new PruneLensError(
      outPath,
      'the network to save does not have the layers of the loaded ONNX model; save only changed weights and biases.',
    );
  }
}

/** Finds the tensors to write. Each kernel is compared with its stored tensor, read again. */
async function collectChanges(source: OnnxSource, network: Network, outPath: string) {
  const writes = new Map<string, TensorWrite>();
  const additions: BiasAddition[] = [];
  const add = (write: TensorWrite) => {
    const key = siteKey(write.tensor);
    const previous = writes.get(key);
    if (previous && !sameValues(previous.values, write.values)) {
      throw new PruneLensError(
        outPath,
        `ONNX tensor '${write.tensor.name}' is shared by layers that changed differently; it cannot hold both.`,
      );
    }
    writes.set(key, write);
  };
  for (const binding of source.parsed.dense) {
    const layer = network.layers[binding.layerIndex] as DenseLayer;
    const before = source.layers[binding.layerIndex];
    const stored = await readKernel(source.ctx, binding.kernel);
    if (!sameValues(layer.kernel, stored)) add(kernelWrite(binding.kernel, layer, stored));
    if (binding.bias && layer.bias === null) {
      throw new PruneLensError(
        outPath,
        `layer ${layer.name} lost its bias; an ONNX bias can be changed but not removed.`,
      );
    }
    if (binding.bias && layer.bias && !sameValues(layer.bias, before.bias))
      add(biasWrite(binding.bias, layer));
    if (!binding.bias && layer.bias) additions.push({ binding, layer });
  }
  return { writes, additions };
}

function sameValues(a: Float32Array, b: Float32Array | null): boolean {
  if (!b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/**
 * Converts a `[units, inputs]` kernel back to the stored orientation and scale, into `into` (the
 * stored values read for the comparison, which are no longer needed).
 */
function kernelWrite(binding: WeightBinding, layer: DenseLayer, into: Float32Array): TensorWrite {
  if (binding.transposed) transposeInto(layer.kernel, layer.units, layer.inputs, into);
  else into.set(layer.kernel);
  return { tensor: binding.tensor, values: divide(into, binding.factor) };
}

function biasWrite(binding: WeightBinding, layer: DenseLayer): TensorWrite {
  const values = divide((layer.bias as Float32Array).slice(), binding.factor);
  const broadcast = shapeSize(tensorDims(binding.tensor.proto)) !== layer.units;
  return { tensor: binding.tensor, values, dims: broadcast ? [layer.units] : undefined };
}

function divide(values: Float32Array, factor: number): Float32Array {
  if (factor !== 1) for (let i = 0; i < values.length; i++) values[i] /= factor;
  return values;
}

function siteKey(tensor: StoredTensor): string {
  const site = tensor.site;
  if (site.kind === 'initializer') return `initializer:${site.index}`;
  if (site.kind === 'constant-node') return `node:${site.nodeIndex}`;
  return `attribute:${tensor.name}`;
}

function graphSpan(source: OnnxSource): FieldSpan {
  return fieldsNumbered(source.bytes, Field.modelGraph)[0];
}

function graphPayload(source: OnnxSource): Uint8Array {
  return payloadOf(source.bytes, graphSpan(source));
}

/**
 * Builds the new external data file from every external tensor of the source, with new values
 * where the network changed.
 * NOTE: only graph initializers and Constant nodes move to the new file. External tensors in
 * training_info, functions or subgraphs keep their old location, which breaks when the output
 * is written to another folder.
 */
async function externalData(source: OnnxSource, writes: Map<string, TensorWrite>, outPath: string) {
  const tensors = [...source.index.constants.values()].filter((tensor) => isExternal(tensor.proto));
  if (tensors.length === 0) return null;
  const file = await dataFileFor(source, tensors, outPath);
  const location = path.basename(file);
  const parts: Uint8Array[] = [];
  const locations = new Map<string, TensorRewrite['external'] & object>();
  let offset = 0;
  for (const tensor of tensors) {
    const write = writes.get(siteKey(tensor));
    const dataType = tensor.proto.dataType ?? 0;
    const bytes = write
      ? encodeFloats(dataType, write.values)
      : await readStoredBytes(source.ctx, tensor.proto);
    const padding = (16 - (offset % 16)) % 16;
    parts.push(new Uint8Array(padding), bytes);
    offset += padding;
    locations.set(siteKey(tensor), { location, offset, length: bytes.length });
    offset += bytes.length;
  }
  return { file, parts, locations };
}

/** Names the data file after the output, never the same file as a data file of the source. */
async function dataFileFor(
  source: OnnxSource,
  tensors: StoredTensor[],
  outPath: string,
): Promise<string> {
  const sourceFiles = new Set<string>();
  for (const tensor of tensors) {
    const location =
      (tensor.proto.externalData ?? []).find((entry) => entry.key === 'location')?.value ?? '';
    sourceFiles.add(await realPath(path.resolve(source.ctx.folder, location)));
  }
  const base = path.resolve(outPath);
  for (const suffix of ['.data', '.pruned.data']) {
    const candidate = `${base}${suffix}`;
    if (!sourceFiles.has(await realPath(candidate))) return candidate;
  }
  for (let i = 2; ; i++) {
    const candidate = `${base}.pruned-${i}.data`;
    if (!sourceFiles.has(await realPath(candidate))) return candidate;
  }
}

async function realPath(file: string): Promise<string> {
  try {
    return await fs.realpath(file);
  } catch {
    return path.resolve(file);
  }
}

/** Collects the edits to the GraphProto payload and applies them at the end. */
class GraphEdits {
  private readonly nodeSpans: FieldSpan[];
  private readonly initializerSpans: FieldSpan[];
  private readonly tensorChanges = new Map<
    string,
    { tensor: StoredTensor; change: TensorRewrite }
  >();
  private readonly nodeInputs = new Map<number, string[]>();
  private readonly nodeOutputs = new Map<number, string[]>();
  private readonly insertedAfterNode = new Map<number, Uint8Array>();
  private readonly appended: Uint8Array[] = [];
  private readonly usedNames: Set<string>;

  constructor(
    private readonly source: OnnxSource,
    private readonly graph: Uint8Array,
  ) {
    this.nodeSpans = fieldsNumbered(graph, Field.graphNode);
    this.initializerSpans = fieldsNumbered(graph, Field.graphInitializer);
    this.usedNames = namesIn(source.index);
  }

  /** Stores new values for a tensor, the way it stored them before. */
  setValues(write: TensorWrite): void {
    const entry = this.changeFor(write.tensor);
    entry.change.values = write.values;
    entry.change.dims = write.dims;
  }

  /** Points an external tensor at its place in the new data file. */
  setExternal(key: string, location: NonNullable<TensorRewrite['external']>): void {
    const tensor = [...this.source.index.constants.values()].find(
      (candidate) => siteKey(candidate) === key,
    );
    if (tensor) this.changeFor(tensor).change.external = location;
  }

  private changeFor(tensor: StoredTensor) {
    if (tensor.site.kind === 'attribute-list') {
      throw new PruneLensError(
        this.source.ctx.modelFile,
        `weight '${tensor.name}' is a Constant node's value_floats attribute, which PruneLens cannot rewrite.`,
      );
    }
    const key = siteKey(tensor);
    const existing = this.tensorChanges.get(key) ?? { tensor, change: {} };
    this.tensorChanges.set(key, existing);
    return existing;
  }

  /** Adds a bias to a dense node without one and returns the note for the report. */
  addBias({ binding, layer }: BiasAddition): string {
    const node = this.source.index.nodes[binding.nodeIndex];
    const biasName = this.freshName(`${layer.name}.bias`);
    const gemmBeta = (node.attribute ?? []).find((attribute) => attribute.name === 'beta')?.f ?? 1;
    const useGemmC = binding.op === 'Gemm' && gemmBeta !== 0 && !node.input?.[2];
    const values = divide((layer.bias as Float32Array).slice(), useGemmC ? gemmBeta : 1);
    const tensor = encodeNewTensor(biasName, binding.computeType, [layer.units], values);
    this.appended.push(encodeBytesField(Field.graphInitializer, tensor));
    if (this.irVersion() < 4)
      this.appended.push(encodeBytesField(Field.graphInput, inputInfo(biasName, binding, layer)));
    if (useGemmC) {
      this.nodeInputs.set(binding.nodeIndex, [...(node.input ?? []).slice(0, 2), biasName]);
      return `added a zero bias to layer ${layer.name} as input C '${biasName}' of Gemm node '${node.name}' (it had none).`;
    }
    const product = node.output?.[0] ?? '';
    const unbiased = this.freshName(`${product}_without_bias`);
    this.nodeOutputs.set(binding.nodeIndex, [unbiased, ...(node.output ?? []).slice(1)]);
    const addNode = {
      name: this.freshName(`${layer.name}/BiasAdd`),
      opType: 'Add',
      input: [unbiased, biasName],
      output: [product],
    };
    this.insertedAfterNode.set(
      binding.nodeIndex,
      encodeBytesField(Field.graphNode, onnx.NodeProto.encode(addNode).finish()),
    );
    return `added a zero bias to layer ${layer.name} as initializer '${biasName}' with an Add node after ${binding.op} node '${node.name}' (it had none).`;
  }

  /** Returns the new GraphProto payload as parts. */
  finish(): Uint8Array[] {
    const edits: ByteEdit[] = [];
    const nodeBytes = new Map<number, Uint8Array>();
    for (const { tensor, change } of this.tensorChanges.values()) {
      if (tensor.site.kind === 'initializer') {
        const span = this.initializerSpans[tensor.site.index];
        const bytes = rewriteTensor(payloadOf(this.graph, span), tensor.proto, change);
        edits.push({
          start: span.start,
          end: span.end,
          bytes: bytesField(Field.graphInitializer, bytes),
        });
      } else if (tensor.site.kind === 'constant-node') {
        nodeBytes.set(tensor.site.nodeIndex, this.constantNode(tensor, change));
      }
    }
    for (const [index, inputs] of this.nodeInputs) {
      nodeBytes.set(
        index,
        replaceFields(
          this.nodePayload(index),
          (span) => span.field === Field.nodeInput,
          inputs.map((name) => encodeStringField(Field.nodeInput, name)),
        ),
      );
    }
    for (const [index, outputs] of this.nodeOutputs) {
      nodeBytes.set(
        index,
        replaceFields(
          this.nodePayload(index),
          (span) => span.field === Field.nodeOutput,
          outputs.map((name) => encodeStringField(Field.nodeOutput, name)),
        ),
      );
    }
    for (const [index, bytes] of nodeBytes) {
      const span = this.nodeSpans[index];
      edits.push({
        start: span.start,
        end: span.end,
        bytes: encodeBytesField(Field.graphNode, bytes),
      });
    }
    for (const [index, bytes] of this.insertedAfterNode) {
      const end = this.nodeSpans[index].end;
      edits.push({ start: end, end, bytes });
    }
    edits.push({
      start: this.graph.length,
      end: this.graph.length,
      bytes: concatBytes(this.appended),
    });
    return editedParts(this.graph, edits);
  }

  private nodePayload(index: number): Uint8Array {
    return payloadOf(this.graph, this.nodeSpans[index]);
  }

  /** Re-encodes a Constant node with a changed `value` tensor, keeping its other fields. */
  private constantNode(tensor: StoredTensor, change: TensorRewrite): Uint8Array {
    if (tensor.site.kind !== 'constant-node') throw new Error('not a Constant node tensor');
    const node = this.nodePayload(tensor.site.nodeIndex);
    const attributeSpan = fieldsNumbered(node, Field.nodeAttribute)[tensor.site.attributeIndex];
    const attribute = payloadOf(node, attributeSpan);
    const tensorSpan = fieldsNumbered(attribute, Field.attributeTensor)[0];
    const tensorBytes = concatBytes(
      rewriteTensor(payloadOf(attribute, tensorSpan), tensor.proto, change),
    );
    const newAttribute = applyEdits(attribute, [
      {
        start: tensorSpan.start,
        end: tensorSpan.end,
        bytes: encodeBytesField(Field.attributeTensor, tensorBytes),
      },
    ]);
    return applyEdits(node, [
      {
        start: attributeSpan.start,
        end: attributeSpan.end,
        bytes: encodeBytesField(Field.nodeAttribute, newAttribute),
      },
    ]);
  }

  private irVersion(): number {
    const version = this.source.model.irVersion;
    return typeof version === 'number' ? version : Number(version?.toString() ?? 0);
  }

  private freshName(base: string): string {
    let name = base;
    for (let i = 2; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }
}

function namesIn(index: GraphIndex): Set<string> {
  const names = new Set<string>(index.constants.keys());
  for (const node of index.nodes) {
    for (const name of [...(node.input ?? []), ...(node.output ?? []), node.name ?? ''])
      names.add(name);
  }
  for (const info of [...(index.graph.input ?? []), ...(index.graph.output ?? [])])
    names.add(info.name ?? '');
  return names;
}

/** A graph input entry for a new initializer, which models before IR version 4 must list. */
function inputInfo(name: string, binding: DenseBinding, layer: DenseLayer): Uint8Array {
  return onnx.ValueInfoProto.encode({
    name,
    type: {
      tensorType: { elemType: binding.computeType, shape: { dim: [{ dimValue: layer.units }] } },
    },
  }).finish();
}
