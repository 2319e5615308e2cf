/** Messages between the fuzzing harness and its reader child process. */

/** Reader entry points the harness can drive: a format id, `model` (detect the format) or `data`. */
export type HarnessTarget =
  | 'model'
  | 'data'
  | 'keras-h5'
  | 'keras'
  | 'tfjs-layers'
  | 'onnx'
  | 'safetensors'
  | 'pytorch';

/** One input to open. */
export interface HarnessRequest {
  id: number;
  target: HarnessTarget;
  file: string;
  /** Also save the loaded model (unchanged) into a fresh folder beside the input. */
  save?: boolean;
}

/** How one input ended inside the child. */
export interface HarnessReply {
  id: number;
  outcome: 'ok' | 'rejected' | 'exception';
  name?: string;
  message?: string;
  stack?: string;
  /** The file a PruneLensError named. */
  file?: string;
  milliseconds: number;
  /** The child cannot read more inputs reliably (HDF5 aborted in it) and must be replaced. */
  retire?: boolean;
}
