/**
 * Walks an ONNX graph from its input to its output and builds the core's chain of layers.
 * Gemm and MatMul (+ Add) become dense layers, and known elementwise and shape operators become
 * their core layers. Any other operator becomes an opaque layer.
 * Operator semantics: https://onnx.ai/onnx/operators/
 */
import { onnx } from 'onnx-proto';
import { ModelFormatError } from '../errors';
import type { Activation, DenseLayer, Layer, Network } from '../model';
import { shapeSize } from '../model';
import { checkpoint, type TaskOptions } from '../progress';
import {
  GraphIndex,
  dimsOf,
  floatAttribute,
  floatsAttribute,
  intAttribute,
  isDefaultDomain,
  type StoredTensor,
} from './onnx-graph';
import {
  isFloatType,
  readFloatTensor,
  readIntegerTensor,
  type TensorContext,
} from './onnx-tensor';

/** Mapping from one stored tensor to a dense layer's kernel or bias. */
export interface WeightBinding {
  tensor: StoredTensor;
  /** True when the stored matrix is `[inputs, units]` (MatMul, Gemm with transB=0). */
  transposed: boolean;
  /** Factor the node applies at run time: Gemm `alpha` for B, `beta` for C, else 1. */
  factor: number;
}

/** Facts the writer uses about one dense layer of the network. */
export interface DenseBinding {
  layerIndex: number;
  nodeIndex: number;
  op: 'Gemm' | 'MatMul';
  kernel: WeightBinding;
  bias: WeightBinding | null;
  /** Data type of the node's output, for a bias added later. */
  computeType: number;
}

/** The network read from a graph, with the bindings the writer uses. */
export interface ParsedChain {
  network: Network;
  dense: DenseBinding[];
  notes: string[];
}

const defaultSeluAlpha = 1.6732632423543772;
const defaultSeluGamma = 1.0507009873554805;

/** Builds the chain of layers of one graph. */
export class ChainBuilder {
  private readonly layers: Layer[] = [];
  private readonly dense: DenseBinding[] = [];
  private readonly notes: string[] = [];
  private readonly names = new Set<string>();
  /** Shape of one sample (no batch axis) at the current point of the walk, or null when unknown. */
  private shape: (number | null)[] | null = null;

  constructor(
    private readonly index: GraphIndex,
    private readonly opset: number,
  ) {}

  /** Walks the graph and returns the network; throws ModelFormatError when it is not a chain. */
  async build(options: TaskOptions = {}): Promise<ParsedChain> {
    const { input, output } = this.endpoints();
    const inputDims = this.index.valueShapes.get(input.name ?? '') ?? [];
    if (inputDims.length < 2) {
      throw this.error(
        `input '${input.name}' has shape [${inputDims}]; PruneLens needs a batch axis and a known rank.`,
      );
    }
    this.shape = inputDims.slice(1);
    let current = input.name ?? '';
    const visited = new Set<number>();
    while (current !== output) {
      await checkpoint(options.signal);
      const nodeIndex = this.nextNode(current, input.name ?? '', output);
      if (visited.has(nodeIndex))
        throw this.index.notAChain(`node '${this.nodeName(nodeIndex)}' is reached twice`);
      visited.add(nodeIndex);
      current = await this.addNode(nodeIndex, current);
    }
    const inputShape = this.inputShape(input.name ?? '', inputDims);
    return { network: { inputShape, layers: this.layers }, dense: this.dense, notes: this.notes };
  }

  private endpoints(): { input: onnx.IValueInfoProto; output: string } {
    const graph = this.index.graph;
    const inputs = (graph.input ?? []).filter((info) => !this.index.constants.has(info.name ?? ''));
    if (inputs.length !== 1) {
      const names = inputs.map((info) => `'${info.name}'`).join(', ');
      throw this.error(
        `has ${inputs.length} graph inputs (${names}); PruneLens reads models with exactly one input.`,
      );
    }
    const outputs = graph.output ?? [];
    if (outputs.length !== 1) {
      const names = outputs.map((info) => `'${info.name}'`).join(', ');
      throw this.error(
        `has ${outputs.length} graph outputs (${names}); PruneLens reads models with exactly one output.`,
      );
    }
    return { input: inputs[0], output: outputs[0].name ?? '' };
  }

  private nextNode(current: string, input: string, output: string): number {
    const consumers = this.index.valueConsumers(current);
    if (consumers.length === 0) {
      throw this.index.notAChain(
        `tensor '${current}' is not used by any node, so input '${input}' does not lead to output '${output}'`,
      );
    }
    if (consumers.length > 1) {
      const names = consumers.map((i) => `'${this.nodeName(i)}'`).join(', ');
      throw this.index.notAChain(`tensor '${current}' feeds ${consumers.length} nodes (${names})`);
    }
    return consumers[0];
  }

  /** Adds the layer(s) for one node and returns the tensor the walk continues from. */
  private async addNode(nodeIndex: number, current: string): Promise<string> {
    const node = this.index.nodes[nodeIndex];
    this.checkSideInputs(node, current);
    this.checkSideOutputs(node);
    const op = isDefaultDomain(node) ? (node.opType ?? '') : `${node.domain}.${node.opType}`;
    if (op === 'MatMul' || op === 'Gemm') {
      if (node.input?.[0] === current) return this.addDense(nodeIndex, op);
      this.addOpaque(node, `${op} multiplies a weight by the activation from the left`);
      return node.output?.[0] ?? '';
    }
    const handled = await this.addSimpleLayer(node, op);
    if (!handled) this.addOpaque(node, `ONNX operator ${op} is not supported by the core`);
    return node.output?.[0] ?? '';
  }

  private checkSideInputs(node: onnx.INodeProto, current: string): void {
    for (const input of node.input ?? []) {
      if (input === '' || input === current || this.index.isStatic(input)) continue;
      throw this.index.notAChain(
        `node '${node.name}' (${node.opType}) combines '${current}' with '${input}'`,
      );
    }
  }

  private checkSideOutputs(node: onnx.INodeProto): void {
    for (const extra of (node.output ?? []).slice(1)) {
      if (extra && this.index.valueConsumers(extra).length > 0) {
        throw this.index.notAChain(
          `output '${extra}' of node '${node.name}' (${node.opType}) is used by other nodes`,
        );
      }
    }
  }

  private async addSimpleLayer(node: onnx.INodeProto, op: string): Promise<boolean> {
    const activation = this.activationOf(node, op);
    if (activation) {
      this.addActivation(node, activation);
      return true;
    }
    switch (op) {
      case 'Identity':
      case 'Dropout':
        this.push({ kind: 'identity', name: this.layerName(node), className: op });
        return true;
      case 'Cast':
        if (!isFloatType(intAttribute(node, 'to', 0))) return false;
        this.push({ kind: 'identity', name: this.layerName(node), className: op });
        return true;
      case 'Flatten':
      case 'Reshape':
        return this.addReshape(node, op);
      case 'ai.onnx.ml.Scaler':
        return this.addScaler(node);
      case 'BatchNormalization':
        return this.addBatchNorm(node);
      default:
        return false;
    }
  }

  private activationOf(node: onnx.INodeProto, op: string): Activation | null {
    switch (op) {
      case 'Relu':
        return { name: 'relu' };
      case 'Tanh':
        return { name: 'tanh' };
      case 'Sigmoid':
        return { name: 'sigmoid' };
      case 'Softplus':
        return { name: 'softplus' };
      case 'Softsign':
        return { name: 'softsign' };
      case 'Exp':
        return { name: 'exponential' };
      case 'LeakyRelu':
        return { name: 'leaky_relu', alpha: floatAttribute(node, 'alpha', 0.01) };
      case 'Elu':
        return { name: 'elu', alpha: floatAttribute(node, 'alpha', 1) };
      case 'Selu':
        return this.isDefaultSelu(node) ? { name: 'selu' } : null;
      case 'Softmax':
        return this.isLastAxis(intAttribute(node, 'axis', this.opset >= 13 ? -1 : 1))
          ? { name: 'softmax' }
          : null;
      default:
        return null;
    }
  }

  private isDefaultSelu(node: onnx.INodeProto): boolean {
    const close = (a: number, b: number) => Math.abs(a - b) < 1e-6;
    return (
      close(floatAttribute(node, 'alpha', defaultSeluAlpha), defaultSeluAlpha) &&
      close(floatAttribute(node, 'gamma', defaultSeluGamma), defaultSeluGamma)
    );
  }

  private isLastAxis(axis: number): boolean {
    if (axis === -1) return true;
    return this.shape !== null && axis === this.shape.length;
  }

  /** Folds an activation into the dense layer right before it, or adds an activation layer. */
  private addActivation(node: onnx.INodeProto, activation: Activation): void {
    const previous = this.layers[this.layers.length - 1];
    if (previous?.kind === 'dense' && previous.activation.name === 'linear') {
      previous.activation = activation;
      return;
    }
    this.push({ kind: 'activation', name: this.layerName(node), activation });
  }

  private async addReshape(node: onnx.INodeProto, op: string): Promise<boolean> {
    const target = op === 'Flatten' ? this.flattenShape(node) : await this.reshapeTarget(node);
    if (!target) return false;
    this.push({ kind: 'reshape', name: this.layerName(node), className: op, targetShape: target });
    this.shape = target;
    return true;
  }

  private flattenShape(node: onnx.INodeProto): number[] | null {
    const axis = intAttribute(node, 'axis', 1);
    if (axis !== 1 || !this.knownShape()) return null;
    return [shapeSize(this.knownShape() ?? [])];
  }

  private knownShape(): number[] | null {
    if (!this.shape || this.shape.some((dim) => dim === null)) return null;
    return this.shape as number[];
  }

  /** Returns the sample shape after a Reshape whose first target axis is the batch axis. */
  private async reshapeTarget(node: onnx.INodeProto): Promise<number[] | null> {
    const from = this.knownShape();
    const shapeInput = this.index.constants.get(node.input?.[1] ?? '');
    if (!shapeInput) return this.runtimeReshape(node, from);
    const dims = await readIntegerTensor(this.index.ctx, shapeInput.proto);
    const allowZero = intAttribute(node, 'allowzero', 0) === 1;
    const rest = dims.slice(1).map((dim, i) => (dim === 0 && !allowZero ? (from?.[i] ?? -2) : dim));
    if (rest.some((dim) => dim < -1) || rest.filter((dim) => dim === -1).length > 1) return null;
    if (!from) return rest.includes(-1) ? null : rest;
    const known = shapeSize(rest.filter((dim) => dim !== -1));
    const target = rest.map((dim) => (dim === -1 ? shapeSize(from) / known : dim));
    if (shapeSize(target) !== shapeSize(from) || !target.every(Number.isInteger)) return null;
    return target;
  }

  /** Resolves a Reshape whose shape is computed at run time, from the recorded shape or as a flatten. */
  private runtimeReshape(node: onnx.INodeProto, from: number[] | null): number[] | null {
    const recorded = this.index.valueShapes.get(node.output?.[0] ?? '')?.slice(1);
    if (recorded && recorded.every((dim) => dim !== null)) return recorded as number[];
    if (!from) return null;
    this.notes.push(
      `Reshape node '${node.name}' computes its shape at run time; read as a flatten to [${shapeSize(from)}].`,
    );
    return [shapeSize(from)];
  }

  private addScaler(node: onnx.INodeProto): boolean {
    const width = this.shape?.[this.shape.length - 1] ?? null;
    const offset = floatsAttribute(node, 'offset') ?? [0];
    const scale = floatsAttribute(node, 'scale') ?? [1];
    const expand = (values: number[]) =>
      Float32Array.from(
        values.length === 1 && width !== null ? new Array(width).fill(values[0]) : values,
      );
    const sizes = new Set(
      [offset.length, scale.length, width].filter((n) => n !== null && n !== 1),
    );
    if (sizes.size > 1) return false;
    this.push({
      kind: 'scale',
      name: this.layerName(node),
      offset: expand(offset),
      scale: expand(scale),
    });
    return true;
  }

  private async addBatchNorm(node: onnx.INodeProto): Promise<boolean> {
    const inputs = (node.input ?? []).slice(1, 5).map((name) => this.index.constants.get(name));
    if (inputs.length !== 4 || inputs.some((tensor) => !tensor)) return false;
    if (intAttribute(node, 'training_mode', 0) !== 0 || this.shape?.length !== 1) return false;
    const [gamma, beta, mean, variance] = await Promise.all(
      inputs.map((tensor) => readFloatTensor(this.index.ctx, (tensor as StoredTensor).proto)),
    );
    this.push({
      kind: 'batchnorm',
      name: this.layerName(node),
      size: mean.length,
      gamma,
      beta,
      movingMean: mean,
      movingVariance: variance,
      epsilon: floatAttribute(node, 'epsilon', 1e-5),
    });
    return true;
  }

  private addOpaque(node: onnx.INodeProto, reason: string): void {
    const params = (node.input ?? [])
      .map((name) => this.index.constants.get(name))
      .reduce((sum, tensor) => sum + (tensor ? shapeSize(dimsOf(tensor)) : 0), 0);
    const name = this.layerName(node);
    const fullReason = `${reason} (node '${node.name ?? ''}')`;
    this.push({ kind: 'opaque', name, className: node.opType ?? '', reason: fullReason, params });
    this.notes.push(
      `Layer ${name}: ${fullReason}; it is kept unchanged and only data-free criteria apply.`,
    );
    this.shape = this.index.valueShapes.get(node.output?.[0] ?? '')?.slice(1) ?? null;
  }

  /** Adds a dense layer for a Gemm or MatMul node (and a following bias Add); returns the next tensor. */
  private async addDense(nodeIndex: number, op: 'Gemm' | 'MatMul'): Promise<string> {
    const node = this.index.nodes[nodeIndex];
    const feed = this.index.resolveWeight(node.input?.[1] ?? '');
    if (typeof feed === 'string') {
      this.addOpaque(node, `${op} cannot be read as a dense layer because ${feed}`);
      return node.output?.[0] ?? '';
    }
    if (op === 'Gemm' && intAttribute(node, 'transA', 0) !== 0) {
      throw this.error(
        `Gemm node '${node.name}' has transA=1, which transposes the batch of activations; PruneLens reads Gemm with transA=0 only.`,
      );
    }
    const transB = op === 'Gemm' ? intAttribute(node, 'transB', 0) : 0;
    const kernel: WeightBinding = {
      tensor: feed.tensor,
      transposed: (feed.transposes + transB) % 2 === 0,
      factor: op === 'Gemm' ? floatAttribute(node, 'alpha', 1) : 1,
    };
    const layer = await this.denseLayer(node, kernel);
    const binding: DenseBinding = {
      layerIndex: this.layers.length,
      nodeIndex,
      op,
      kernel,
      bias: null,
      computeType: feed.computeType,
    };
    let next = node.output?.[0] ?? '';
    if (op === 'Gemm') binding.bias = await this.gemmBias(node, layer);
    if (!binding.bias) next = await this.fuseBiasAdd(next, layer, binding);
    this.push(layer);
    this.dense.push(binding);
    this.shape = this.shape ? [...this.shape.slice(0, -1), layer.units] : [layer.units];
    return next;
  }

  private async denseLayer(node: onnx.INodeProto, kernel: WeightBinding): Promise<DenseLayer> {
    const dims = dimsOf(kernel.tensor);
    if (dims.length !== 2) {
      throw this.error(
        `weight '${kernel.tensor.name}' of node '${node.name}' has dims [${dims}]; a dense layer needs a 2-D weight.`,
      );
    }
    const [units, inputs] = kernel.transposed ? [dims[1], dims[0]] : dims;
    const width = this.shape?.[this.shape.length - 1];
    if (width !== null && width !== undefined && width !== inputs) {
      throw this.error(
        `node '${node.name}' multiplies a width-${width} input by weight '${kernel.tensor.name}' [${dims}], which expects ${inputs}.`,
      );
    }
    const values = await readKernel(this.index.ctx, kernel);
    const name = this.denseName(node, kernel.tensor.name);
    return {
      kind: 'dense',
      name,
      units,
      inputs,
      kernel: values,
      bias: null,
      activation: { name: 'linear' },
    };
  }

  private async gemmBias(node: onnx.INodeProto, layer: DenseLayer): Promise<WeightBinding | null> {
    const name = node.input?.[2] ?? '';
    if (name === '') return null;
    const beta = floatAttribute(node, 'beta', 1);
    const feed = this.index.resolveWeight(name);
    if (typeof feed === 'string')
      throw this.error(
        `Gemm node '${node.name}' has a bias C that PruneLens cannot read: ${feed}.`,
      );
    if (beta === 0) {
      this.notes.push(
        `Gemm node '${node.name}' has beta=0, so its input C is ignored and the layer has no bias.`,
      );
      return null;
    }
    const binding: WeightBinding = { tensor: feed.tensor, transposed: false, factor: beta };
    layer.bias = await this.biasValues(node, binding, layer.units);
    return binding;
  }

  /** Reads a bias of `units` values (or one value broadcast to all units) and applies its factor. */
  private async biasValues(
    node: onnx.INodeProto,
    binding: WeightBinding,
    units: number,
  ): Promise<Float32Array> {
    const dims = dimsOf(binding.tensor);
    const size = shapeSize(dims);
    const last = dims[dims.length - 1] ?? 1;
    if ((size !== units && size !== 1) || (size === units && last !== units)) {
      throw this.error(
        `bias '${binding.tensor.name}' of node '${node.name}' has dims [${dims}]; expected [${units}] for ${units} units.`,
      );
    }
    const stored = await readFloatTensor(this.index.ctx, binding.tensor.proto);
    const values = size === 1 ? new Float32Array(units).fill(stored[0]) : stored;
    if (binding.factor !== 1) for (let i = 0; i < values.length; i++) values[i] *= binding.factor;
    return values;
  }

  /** Reads `Add(product, bias)` or `Add(bias, product)` right after a dense node as its bias. */
  private async fuseBiasAdd(
    product: string,
    layer: DenseLayer,
    binding: DenseBinding,
  ): Promise<string> {
    const consumers = this.index.valueConsumers(product);
    if (consumers.length !== 1 || product === this.index.graph.output?.[0]?.name) return product;
    const add = this.index.nodes[consumers[0]];
    if (add.opType !== 'Add' || !isDefaultDomain(add) || add.input?.length !== 2) return product;
    const other = add.input[0] === product ? add.input[1] : add.input[0];
    const tensor = this.index.constants.get(other);
    if (!tensor || !isFloatType(tensor.proto.dataType ?? 0)) return product;
    const size = shapeSize(dimsOf(tensor));
    if (size !== layer.units && size !== 1) return product;
    binding.bias = { tensor, transposed: false, factor: 1 };
    layer.bias = await this.biasValues(add, binding.bias, layer.units);
    return add.output?.[0] ?? '';
  }

  private inputShape(input: string, dims: (number | null)[]): number[] {
    const sample = dims.slice(1);
    if (sample.every((dim) => dim !== null)) return sample as number[];
    const firstDense = this.layers.findIndex((layer) => layer.kind === 'dense');
    const before = this.layers.slice(0, Math.max(firstDense, 0));
    const sameShape = before.every((layer) =>
      ['identity', 'activation', 'scale', 'batchnorm'].includes(layer.kind),
    );
    if (sample.length === 1 && firstDense >= 0 && sameShape) {
      return [(this.layers[firstDense] as DenseLayer).inputs];
    }
    throw this.error(
      `input '${input}' has shape [${dims.map((d) => d ?? '?')}] with an unknown size after the batch axis; re-export it with fixed sample dimensions.`,
    );
  }

  private push(layer: Layer): void {
    this.layers.push(layer);
  }

  private denseName(node: onnx.INodeProto, weight: string): string {
    if (weight.endsWith('.weight')) return this.unique(weight.slice(0, -'.weight'.length));
    const fromNode = (node.name ?? '').replace(/^\//, '').replace(/\/(MatMul|Gemm)$/, '');
    return this.unique(fromNode || weight || `dense_${this.dense.length + 1}`);
  }

  private layerName(node: onnx.INodeProto): string {
    return this.unique(
      (node.name ?? '').replace(/^\//, '') || `${node.opType}_${this.layers.length + 1}`,
    );
  }

  private unique(base: string): string {
    let name = base;
    for (let i = 2; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  private nodeName(index: number): string {
    const node = this.index.nodes[index];
    return node.name || `${node.opType} #${index}`;
  }

  private error(message: string): ModelFormatError {
    return new ModelFormatError(this.index.ctx.modelFile, message);
  }
}

/** Reads a dense kernel in the network's layout: `[units, inputs]`, times the node's factor. */
export async function readKernel(
  ctx: TensorContext,
  binding: WeightBinding,
): Promise<Float32Array> {
  const values = await readFloatTensor(ctx, binding.tensor.proto, binding.transposed);
  if (binding.factor !== 1) for (let i = 0; i < values.length; i++) values[i] *= binding.factor;
  return values;
}
