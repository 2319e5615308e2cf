/** The contract between format readers and the rest of PruneLens. */
import type { ActivationName, Network } from '../model';
import type { TaskOptions } from '../progress';

/** Identifiers of the supported model formats. */
export type FormatId = 'keras-h5' | 'keras' | 'tfjs-layers' | 'onnx' | 'safetensors' | 'pytorch';

/** The first bytes of a file and its name, enough for a reader to say "not mine" cheaply. */
export interface FileProbe {
  path: string;
  size: number;
  /** Up to the first 64 KiB. */
  head: Uint8Array;
}

/** Options for opening a model. */
export interface OpenOptions extends TaskOptions {
  /**
   * Activation between dense layers for formats that store no architecture
   * (safetensors, PyTorch state dicts) when no sidecar file gives it.
   */
  activation?: ActivationName;
  /** Path of a sidecar file with the architecture (JSON or YAML), when not found by name. */
  architecture?: string;
  /**
   * Largest model to load, in bytes, main file and weight files together (see `modelSize`);
   * `openModel` rejects larger ones. Default 2048 MiB; Infinity turns the check off.
   */
  maxBytes?: number;
}

/** Files a writer wrote and notes on what it did besides changing weights. */
export interface SaveReport {
  /** Every file written, main file first. */
  files: string[];
  /** One-line notes for the report, such as "added a zero bias to layer dense_2". */
  notes: string[];
}

/** A model read from a file, able to write a changed copy of itself in the same format. */
export interface LoadedModel {
  format: FormatId;
  /** The main file the user chose. */
  path: string;
  network: Network;
  /** One-line notes about the load (opaque layers, inferred architecture, ...). */
  notes: string[];
  /** Returns true when the format can store a new bias for this dense layer. */
  canAddBias(layerName: string): boolean;
  /**
   * Writes `network` (the loaded network with changed dense kernels and biases, same layers)
   * to `outPath` in this format; every other byte or value is carried over. Writes go to
   * temporary files renamed into place.
   */
  save(network: Network, outPath: string, options?: TaskOptions): Promise<SaveReport>;
}

/** One reader and writer per format. */
export interface ModelFormat {
  id: FormatId;
  /** Human-readable name for messages and the summary. */
  name: string;
  /** Lower-case file extensions including the dot (`.h5`), or full names (`model.json`). */
  extensions: string[];
  /** Cheap check on the first bytes and the name; false means "not mine". */
  match(probe: FileProbe): boolean;
  /** Reads the model; throws ModelFormatError with a one-line message on bad input. */
  open(path: string, options?: OpenOptions): Promise<LoadedModel>;
}
