/** The independent reference values in `../shared/oracle`, and the CLI arguments of each case. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNpy } from '../../src/core/data/npy';
import { corpusPath } from './corpus';

/** The oracle folder: `../shared/oracle` relative to the repository root. */
export const oracleDir = path.resolve(__dirname, '..', '..', '..', 'shared', 'oracle');

/** One reference case, with the data arguments its README gives. */
export interface OracleCase {
  name: string;
  model: string;
  dataArgs: string[];
  calibrationArgs: string[];
  evaluationArgs: string[];
  metric: 'accuracy' | 'mse';
}

/** Reads the per-feature mean and std that the iris case's notes give. */
function irisStandardization(): { mean: string; std: string } {
  const notes: string = readExpected('keras-h5-iris-mlp').notes;
  const lists = [...notes.matchAll(/\[([^\]]+)\]/g)].map((match) => match[1].replace(/\s+/g, ''));
  return { mean: lists[0], std: lists[1] };
}

/** The three reference cases. */
export function oracleCases(): OracleCase[] {
  const iris = irisStandardization();
  return [
    {
      name: 'keras-h5-mnist-mlp-bn-dropout',
      model: corpusPath('keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5'),
      dataArgs: [
        '--data', corpusPath('data', 'mnist-test', 't10k-images-idx3-ubyte.gz'),
        '--labels', corpusPath('data', 'mnist-test', 't10k-labels-idx1-ubyte.gz'),
        '--scale', '0.00392156862745098',
      ],
      calibrationArgs: ['--rows', '0:2000'],
      evaluationArgs: ['--eval-rows', '5000:10000'],
      metric: 'accuracy',
    },
    {
      name: 'keras-h5-boston-housing-regression',
      model: corpusPath('keras-h5-boston-housing-regression', 'boston_housing.h5'),
      dataArgs: ['--data', corpusPath('data', 'sklearn-boston', 'boston_house_prices.csv'), '--skip-lines', '1', '--label-column', 'MEDV'],
      calibrationArgs: [],
      evaluationArgs: [],
      metric: 'mse',
    },
    {
      name: 'keras-h5-iris-mlp',
      model: corpusPath('keras-h5-iris-mlp', 'iris_model.h5'),
      dataArgs: [
        '--data', corpusPath('data', 'sklearn-iris', 'iris.csv'), '--skip-lines', '1', '--label-column', '4',
        '--mean', iris.mean, '--std', iris.std,
      ],
      calibrationArgs: [],
      evaluationArgs: [],
      metric: 'accuracy',
    },
  ];
}

/** Reads a case's `expected.json`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readExpected(name: string): any {
  return JSON.parse(fs.readFileSync(path.join(oracleDir, name, 'expected.json'), 'utf8'));
}

/** Reads a reference array of a layer: `importance` or `compensation`. */
export function readReference(name: string, layer: string, kind: 'importance' | 'compensation'): Float64Array {
  const file = path.join(oracleDir, name, `${layer}.${kind}.npy`);
  const array = readNpy(file, fs.readFileSync(file));
  return Float64Array.from(array.data as ArrayLike<number>);
}
