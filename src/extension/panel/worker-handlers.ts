/** Worker-side handlers of the model panel, merged into the compute worker's RPC methods. */
import type { RpcHandlers } from '../rpc-protocol';

/** Panel methods by name; each receives its params and `{ signal, onProgress, log }`. */
export const panelHandlers: RpcHandlers = {};
