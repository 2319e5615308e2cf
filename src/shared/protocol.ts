/**
 * The one message protocol between the model panel's webview and the extension host. Both sides
 * import these types. The webview sends `ready`, then requests with ids. The host replies to each
 * id with progress events and one reply or failure. It also sends `state` whenever the model,
 * the data or the scores change. Large arrays travel as `ArrayBuffer`s of float32 (or float64 where
 * noted) values.
 */
import type {
  CompareReport,
  InspectLayer,
  Metrics,
  MethodName,
  PruneReport,
  SensitivityReport,
} from '../core/reports';

/** A half-open region `[row0, row1) × [col0, col1)` of a kernel: rows are units, columns inputs. */
export interface WireRegion {
  row0: number;
  row1: number;
  col0: number;
  col1: number;
}

/** A layer's score summary (see `src/core/view/summary.ts`), arrays as buffers. */
export interface WireSummary {
  name: string;
  count: number;
  /** Float64 ranks. */
  ranks: ArrayBuffer;
  /** Float32 edges. */
  edges: ArrayBuffer;
  /** Float64 running sums. */
  cumulative: ArrayBuffer;
}

/** One dense layer as the heatmaps show it. */
export interface DenseLayerView {
  name: string;
  units: number;
  inputs: number;
  bias: boolean;
  activation: string;
  zeros: number;
}

/** Summary of the model file for the panel. */
export interface ModelSummary {
  fileName: string;
  format: string;
  params: number;
  prunable: number;
  sparsity: number;
  inputShape: number[];
  runnable: boolean;
  layers: InspectLayer[];
  dense: DenseLayerView[];
  notes: string[];
}

/** The calibration and evaluation data in use. */
export interface DataSummary {
  description: string;
  samples: number;
  evalDescription: string;
  evalSamples: number;
  task: 'classification' | 'regression' | 'unlabelled';
  /** Metrics of the unpruned model on the evaluation samples. */
  original: Metrics;
  /** One line: how features were preprocessed. */
  preprocessing: string;
}

/** Scores of every dense layer, summarized for the sliders. */
export interface ScoresState {
  method: MethodName;
  samples: number;
  backend: string;
  seconds: number;
  notes: string[];
  layers: WireSummary[];
}

/** Input importance of the first dense layer, as an image. */
export interface InputImage {
  layer: string;
  height: number;
  width: number;
  /** Float32, `height × width` row-major. */
  values: ArrayBuffer;
}

/** Names (never paths) of the files the user picked for data, before they are loaded. */
export interface PickedFiles {
  data?: string;
  labels?: string;
  evalData?: string;
  evalLabels?: string;
}

/** Tabs of the panel. */
export type PanelView = 'model' | 'heatmaps' | 'sensitivity' | 'comparison';

/** Everything the panel renders from; sent after `ready` and after each change. */
export interface PanelState {
  /** Tab to show when the panel opens, such as `sensitivity` for Analyze Layer Sensitivity. */
  view: PanelView;
  model: ModelSummary | null;
  data: DataSummary | null;
  scores: ScoresState | null;
  inputImage: InputImage | null;
  picked: PickedFiles;
  /** Preprocessing and rows to show in the data form, from the chosen data or a recipe. */
  dataForm: DataForm;
  backend: string;
  maxLayerSparsity: number;
  /** A one-line message when loading failed. */
  error: string | null;
  /** Current work of the host, such as "Scoring with ecp…". */
  busy: string | null;
}

/** A tile of a layer's heatmap (see `src/core/view/tiles.ts`), arrays as float32 buffers. */
export interface WireTile extends WireRegion {
  layer: string;
  rows: number;
  cols: number;
  rowStep: number;
  colStep: number;
  weight: ArrayBuffer;
  importance: ArrayBuffer;
  quantiles: ArrayBuffer;
}

/** One weight under the pointer. */
export interface WeightDetail {
  layer: string;
  unit: number;
  input: number;
  weight: number;
  importance: number;
  compensation: number | null;
}

/** Role of the file a pick dialog chooses. */
export type FileRole = 'data' | 'labels' | 'evalData' | 'evalLabels';

/** Data options the panel's form sends; the host adds the paths it picked itself. */
export interface DataForm {
  /** Numbers or comma-separated lists, as typed. */
  scale?: string;
  shift?: string;
  mean?: string;
  std?: string;
  /** `START:END` ranges, as typed. */
  rows?: string;
  evalRows?: string;
  labelColumn?: string;
  method?: MethodName;
}

/** Per-layer sparsities by layer name. */
export type SparsityMap = Record<string, number>;

/** Settings of a save: what the prune command would be given. */
export interface SaveForm {
  scope: 'global' | 'layer';
  sparsity: number;
  layerSparsity: SparsityMap;
  steps: number;
  method: MethodName;
}

/** Chart exports: PNG bytes, or SVG and CSV text. */
export type ExportForm =
  | { format: 'png'; name: string; content: ArrayBuffer }
  | { format: 'svg' | 'csv'; name: string; content: string };

/** Request params and results by method. */
export interface RequestMap {
  tile: { params: { layer: string; region: WireRegion; maxRows: number; maxCols: number }; result: WireTile };
  point: { params: { layer: string; unit: number; input: number }; result: WeightDetail };
  evaluate: { params: { sparsities: SparsityMap }; result: { metrics: Metrics; samples: number; seconds: number } };
  pickFile: { params: { role: FileRole }; result: { name: string | null } };
  loadData: { params: DataForm; result: { loaded: boolean } };
  sensitivity: { params: { method: MethodName; sparsities: number[] }; result: SensitivityReport };
  compare: { params: { sparsities: number[]; steps: number }; result: CompareReport };
  save: { params: SaveForm; result: { output: string; report: PruneReport } | { output: null } };
  export: { params: ExportForm; result: { saved: string | null } };
}

/** Names of the requests. */
export type RequestMethod = keyof RequestMap;

/** Every request method, for validation. */
export const requestMethods: readonly RequestMethod[] = [
  'tile',
  'point',
  'evaluate',
  'pickFile',
  'loadData',
  'sensitivity',
  'compare',
  'save',
  'export',
];

/** Webview → host: the panel has loaded and wants the state. */
export interface ReadyMessage {
  type: 'ready';
}

/** Webview → host: a request that gets a reply with the same id. */
export interface RequestMessage<M extends RequestMethod = RequestMethod> {
  type: 'request';
  id: number;
  method: M;
  params: RequestMap[M]['params'];
}

/** Webview → host: stop request `id`. */
export interface CancelMessage {
  type: 'cancel';
  id: number;
}

/** Messages the webview sends. */
export type WebviewMessage = ReadyMessage | RequestMessage | CancelMessage;

/** Host → webview: the state to render. */
export interface StateMessage {
  type: 'state';
  state: PanelState;
}

/** Host → webview: the result of request `id`. */
export interface ReplyMessage {
  type: 'reply';
  id: number;
  result: unknown;
}

/** Host → webview: request `id` failed or was cancelled. */
export interface FailureMessage {
  type: 'failure';
  id: number;
  message: string;
  cancelled: boolean;
}

/** Host → webview: progress of request `id`, `fraction` in [0, 1]. */
export interface ProgressMessage {
  type: 'progress';
  id: number;
  fraction: number;
  message: string;
}

/** Messages the host sends. */
export type HostMessage = StateMessage | ReplyMessage | FailureMessage | ProgressMessage;
