/** Placeholder until the TensorFlow.js layers model reader lands: matches nothing. */
import { ModelFormatError } from '../errors';
import type { ModelFormat } from './types';

export const tfjsFormat: ModelFormat = {
  id: 'tfjs-layers',
  name: 'TensorFlow.js layers model',
  extensions: [],
  match: () => false,
  open: async (path) => {
    throw new ModelFormatError(path, 'reading TensorFlow.js layers model files is not available yet.');
  },
};
