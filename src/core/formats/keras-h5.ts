/** Placeholder until the Keras HDF5 reader lands: matches nothing. */
import { ModelFormatError } from '../errors';
import type { ModelFormat } from './types';

export const kerasH5Format: ModelFormat = {
  id: 'keras-h5',
  name: 'Keras HDF5',
  extensions: [],
  match: () => false,
  open: async (path) => {
    throw new ModelFormatError(path, 'reading Keras HDF5 files is not available yet.');
  },
};
