/** Placeholder until the ONNX reader lands: matches nothing. */
import { ModelFormatError } from '../errors';
import type { ModelFormat } from './types';

export const onnxFormat: ModelFormat = {
  id: 'onnx',
  name: 'ONNX',
  extensions: [],
  match: () => false,
  open: async (path) => {
    throw new ModelFormatError(path, 'reading ONNX files is not available yet.');
  },
};
