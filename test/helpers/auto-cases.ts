/** Corpus models with matching data, and the CLI data options that reproduce their training inputs. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { corpusPath } from './corpus';
import { oracleCases } from './oracle';

/** One model with its calibration and evaluation rows, which never overlap. */
export interface AutoCase {
  name: string;
  model: string;
  args: string[];
  /** Why the metric is not a task metric, when the data has no usable labels. */
  note?: string;
}

const mnist = (scale: string[], ...extra: string[]) => [
  '--data', corpusPath('data', 'mnist-test', 't10k-images-idx3-ubyte.gz'),
  '--labels', corpusPath('data', 'mnist-test', 't10k-labels-idx1-ubyte.gz'),
  ...scale, '--rows', '0:2000', '--eval-rows', '5000:10000', ...extra,
];

function irisArgs(): string[] {
  const iris = oracleCases().find((entry) => entry.name === 'keras-h5-iris-mlp');
  const standardize = iris?.dataArgs.slice(6) ?? [];
  return [
    '--data', corpusPath('data', 'sklearn-iris', 'iris.csv'), '--skip-lines', '1', '--label-column', '4',
    ...standardize, '--shuffle', '1', '--rows', '0:100', '--eval-rows', '100:150',
  ];
}

/** Min-max scaling of the desharnais features, as the model's training script did; no labels. */
function desharnaisArgs(): string[] {
  const file = corpusPath('data', 'desharnais', 'desharnais.csv');
  const lines = fs.readFileSync(file, 'utf8').trim().split(/\r?\n/);
  const header = lines[0].split(',').map((name) => name.trim().replace(/^"|"$/g, ''));
  const columns = ['TeamExp', 'ManagerExp', 'Length', 'Transactions', 'Entities', 'PointsNonAdjust', 'Adjustment', 'PointsAjust', 'Language'];
  const indices = columns.map((name) => header.indexOf(name));
  const rows = lines.slice(1).map((line) => line.split(',').map(Number));
  const minimum = indices.map((i) => Math.min(...rows.map((row) => row[i])));
  const maximum = indices.map((i) => Math.max(...rows.map((row) => row[i])));
  const scale = minimum.map((low, k) => 1 / (maximum[k] - low || 1));
  const shift = minimum.map((low, k) => -low * scale[k]);
  return [
    '--data', file, '--features', columns.join(','),
    '--scale', scale.join(','), '--shift', shift.join(','), '--shuffle', '1', '--rows', '0:60', '--eval-rows', '60:81',
  ];
}

/** Every corpus model that has matching data PruneLens can preprocess from the command line. */
export function autoCases(): AutoCase[] {
  const unit = ['--scale', '0.00392156862745098'];
  const centred = ['--scale', '0.00784313725490196', '--shift', '-1'];
  return [
    { name: 'keras-h5-mnist-mlp-bn-dropout', model: corpusPath('keras-h5-mnist-mlp-bn-dropout', 'mnist_mlp.h5'), args: mnist(unit) },
    { name: 'keras-h5-weights-yaml-mnist-mlp-sigmoid', model: corpusPath('keras-h5-weights-yaml-mnist-mlp-sigmoid', 'mlp.h5'), args: mnist(unit) },
    { name: 'pytorch-pth-mnist-mlp', model: corpusPath('pytorch-pth-mnist-mlp', 'mlp.pth'), args: mnist(centred) },
    { name: 'onnx-pytorch-mnist-mlp', model: corpusPath('onnx-pytorch-mnist-mlp', 'mnist_mlp.onnx'), args: mnist(unit), note: 'untrained weights' },
    { name: 'keras-h5-iris-mlp', model: corpusPath('keras-h5-iris-mlp', 'iris_model.h5'), args: irisArgs() },
    { name: 'keras3-iris-mlp', model: corpusPath('keras3-iris-mlp', 'iris_model.keras'), args: irisArgs() },
    {
      name: 'keras-h5-boston-housing-regression',
      model: corpusPath('keras-h5-boston-housing-regression', 'boston_housing.h5'),
      args: ['--data', corpusPath('data', 'sklearn-boston', 'boston_house_prices.csv'), '--skip-lines', '1', '--label-column', 'MEDV', '--shuffle', '1', '--rows', '0:350', '--eval-rows', '350:506'],
    },
    {
      name: 'keras-h5-weights-only-desharnais-mlp',
      model: corpusPath('keras-h5-weights-only-desharnais-mlp', 'mlp.h5'),
      args: desharnaisArgs(),
      note: 'no labels: the model predicts a min-max scaled effort, so the metric is the output MSE against the unpruned model',
    },
  ];
}

/** The shipped example, once its data is exported. */
export function exampleCase(dataFolder: string): AutoCase {
  const root = path.resolve(__dirname, '..', '..');
  return {
    name: 'digits-mlp (example)',
    model: path.join(root, 'examples', 'digits-mlp', 'digits_mlp.h5'),
    args: [
      '--data', path.join(dataFolder, 'digits-images.npy'), '--labels', path.join(dataFolder, 'digits-labels.npy'),
      '--rows', '0:2000', '--eval-rows', '8000:10000',
    ],
  };
}
