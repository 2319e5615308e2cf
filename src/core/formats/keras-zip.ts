/** Placeholder until the Keras 3 .keras reader lands: matches nothing. */
import { ModelFormatError } from '../errors';
import type { ModelFormat } from './types';

export const kerasZipFormat: ModelFormat = {
  id: 'keras',
  name: 'Keras 3 .keras',
  extensions: [],
  match: () => false,
  open: async (path) => {
    throw new ModelFormatError(path, 'reading Keras 3 .keras files is not available yet.');
  },
};
