/**
 * ONNX reader and writer (https://onnx.ai/onnx/repo-docs/IR.html). The ModelProto is decoded
 * with onnx-proto, and onnx-chain.ts reads its graph as a chain of layers. Saving (onnx-save.ts)
 * replaces only the changed tensors' bytes.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { Reader } from 'protobufjs';
import { ModelFormatError } from '../errors';
import { denseLayers } from '../model';
import { ChainBuilder } from './onnx-chain';
import { GraphIndex } from './onnx-graph';
import { loadedLayers, saveOnnx, type OnnxSource } from './onnx-save';
import { isExternal, resolveExternal, type TensorContext } from './onnx-tensor';
import { fieldsNumbered, lengthDelimited, listFields, payloadOf } from './onnx-wire';
import type { FileProbe, LoadedModel, ModelFormat, OpenOptions } from './types';

/** Wire type each ModelProto field number uses (onnx.proto, IR version 10). */
const modelFieldWireTypes: Record<number, number> = {
  1: 0, // ir_version
  2: 2, // producer_name
  3: 2, // producer_version
  4: 2, // domain
  5: 0, // model_version
  6: 2, // doc_string
  7: 2, // graph
  8: 2, // opset_import
  14: 2, // metadata_props
  20: 2, // training_info
  25: 2, // functions
  26: 2, // configuration
};

/** The ONNX format: `.onnx` files holding a ModelProto. */
export const onnxFormat: ModelFormat = {
  id: 'onnx',
  name: 'ONNX',
  extensions: ['.onnx'],
  match: matchOnnx,
  open: openOnnx,
};

/** Returns true for a `.onnx` file whose first bytes parse as ModelProto fields. */
function matchOnnx(probe: FileProbe): boolean {
  if (path.extname(probe.path).toLowerCase() !== '.onnx' || probe.head.length === 0) return false;
  const reader = Reader.create(probe.head);
  let fields = 0;
  try {
    while (reader.pos < reader.len && fields < 16) {
      const tag = reader.uint32();
      if (modelFieldWireTypes[tag >>> 3] !== (tag & 7)) return false;
      if ((tag & 7) === lengthDelimited) {
        const length = reader.uint32();
        // A field longer than the file after valid fields is a truncated model, which open reports.
        if (reader.pos + length > probe.size) return fields > 0;
        if (reader.pos + length > reader.len) return true;
        reader.skip(length);
      } else {
        reader.skipType(tag & 7);
      }
      fields++;
    }
  } catch {
    // The head ended inside a field: what was read so far decides.
  }
  return fields > 0;
}

async function openOnnx(file: string, options: OpenOptions = {}): Promise<LoadedModel> {
  const bytes = await readModelFile(file);
  const model = decodeModel(file, bytes);
  const ctx: TensorContext = { modelFile: file, folder: path.dirname(file) };
  const index = new GraphIndex(ctx, model.graph as onnx.IGraphProto);
  for (const tensor of index.constants.values()) {
    if (isExternal(tensor.proto)) await resolveExternal(ctx, tensor.proto);
  }
  const parsed = await new ChainBuilder(index, defaultOpset(model)).build(options);
  const notes = [...parsed.notes];
  if (denseLayers(parsed.network).length === 0)
    notes.push('The graph has no Gemm or MatMul layer that PruneLens can prune.');
  const source: OnnxSource = {
    ctx,
    bytes,
    model,
    index,
    parsed,
    layers: loadedLayers(parsed.network),
  };
  const withoutBias = new Set(
    denseLayers(parsed.network)
      .filter((layer) => !layer.bias)
      .map((layer) => layer.name),
  );
  return {
    format: 'onnx',
    path: file,
    network: parsed.network,
    notes,
    canAddBias: (layerName) => withoutBias.has(layerName),
    save: (network, outPath, saveOptions) => saveOnnx(source, network, outPath, saveOptions),
  };
}

async function readModelFile(file: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelFormatError(file, 'file not found.');
    throw new ModelFormatError(file, `cannot be read (${code ?? String(error)}).`, {
      cause: error,
    });
  }
}

function decodeModel(file: string, bytes: Uint8Array): onnx.ModelProto {
  let model: onnx.ModelProto;
  let graphs: number;
  try {
    model = onnx.ModelProto.decode(bytes);
    graphs = fieldsNumbered(bytes, 7).length;
    checkGraphWire(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ModelFormatError(
      file,
      `is not a readable ONNX model (protobuf decoding failed: ${reason}); the file is truncated or is not ONNX.`,
      { cause: error },
    );
  }
  if (graphs !== 1 || !model.graph) {
    throw new ModelFormatError(
      file,
      `has ${graphs} graph entries where ONNX models have one; the file is damaged or is not ONNX.`,
    );
  }
  return model;
}

/**
 * Walks the wire structure of the graph, its nodes and its initializers, which the writer edits
 * field by field, so that damage protobufjs decoding tolerates is reported at open, not at save.
 */
function checkGraphWire(bytes: Uint8Array): void {
  const nodeField = 1;
  const initializerField = 5;
  for (const graph of fieldsNumbered(bytes, 7)) {
    const payload = payloadOf(bytes, graph);
    for (const entry of listFields(payload)) {
      const isMessage = entry.field === nodeField || entry.field === initializerField;
      if (isMessage && entry.wireType === lengthDelimited) listFields(payloadOf(payload, entry));
    }
  }
}

function defaultOpset(model: onnx.ModelProto): number {
  const entry = model.opsetImport.find((opset) => !opset.domain || opset.domain === 'ai.onnx');
  const version = entry?.version ?? 0;
  return typeof version === 'number' ? version : Number(version.toString());
}
