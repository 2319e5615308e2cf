/** Placeholder until the PyTorch state dict reader lands: matches nothing. */
import { ModelFormatError } from '../errors';
import type { ModelFormat } from './types';

export const pytorchFormat: ModelFormat = {
  id: 'pytorch',
  name: 'PyTorch state dict',
  extensions: [],
  match: () => false,
  open: async (path) => {
    throw new ModelFormatError(path, 'reading PyTorch state dict files is not available yet.');
  },
};
