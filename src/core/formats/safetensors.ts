/** Placeholder until the safetensors reader lands: matches nothing. */
import { ModelFormatError } from '../errors';
import type { ModelFormat } from './types';

export const safetensorsFormat: ModelFormat = {
  id: 'safetensors',
  name: 'safetensors',
  extensions: [],
  match: () => false,
  open: async (path) => {
    throw new ModelFormatError(path, 'reading safetensors files is not available yet.');
  },
};
