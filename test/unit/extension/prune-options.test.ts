import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  dataKindOf,
  guessCsvOptions,
  guessIdxLabels,
  isModelFileName,
  parseSparsity,
  prunedOutputPath,
  recipePathFor,
  reportPathFor,
} from '../../../src/extension/prune-options';

const corpusData = path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'corpus', 'data');

describe('parseSparsity', () => {
  it('accepts fractions and percentages', () => {
    assert.equal(parseSparsity('0.9'), 0.9);
    assert.equal(parseSparsity('90%'), 0.9);
    assert.equal(parseSparsity(' 95 '), 0.95);
    assert.equal(parseSparsity('12.5 %'), 0.125);
  });

  it('rejects values outside (0, 1)', () => {
    for (const text of ['0', '1', '100%', '-5', '150', '0%']) {
      assert.match(String(parseSparsity(text)), /above 0 and below 1/, text);
    }
  });

  it('rejects text', () => {
    assert.match(String(parseSparsity('lots')), /"lots" is not a number/);
    assert.match(String(parseSparsity('')), /not a number/);
  });
});

describe('output names', () => {
  it('inserts the percentage before the extension', () => {
    assert.equal(prunedOutputPath('/m/iris_model.h5', 0.9), '/m/iris_model.pruned-90.h5');
    assert.equal(prunedOutputPath('/m/model.json', 0.5), '/m/model.pruned-50.json');
    assert.equal(prunedOutputPath('/m/net.pth', 0.925), '/m/net.pruned-92.5.pth');
  });

  it('names reports and recipes', () => {
    assert.equal(reportPathFor('/m/iris.pruned-90.h5'), '/m/iris.pruned-90.report.md');
    assert.equal(recipePathFor('/m/iris.h5'), '/m/iris.h5.prunelens.json');
  });

  it('recognizes model files', () => {
    for (const name of [
      'a.h5',
      'B.KERAS',
      'c.onnx',
      'd.safetensors',
      'e.pt',
      'f.pth',
      'g.save',
      'dir/model.json',
    ]) {
      assert.ok(isModelFileName(name), name);
    }
    for (const name of ['weights.json', 'a.csv', 'h5']) assert.ok(!isModelFileName(name), name);
  });
});

describe('guessCsvOptions', () => {
  it('skips the scikit-learn count line', () => {
    const text = fs.readFileSync(path.join(corpusData, 'sklearn-iris', 'iris.csv'), 'utf8');
    const guess = guessCsvOptions(text);
    assert.equal(guess.skipLines, 1);
    assert.equal(guess.hasHeader, false);
    assert.equal(guess.columns.length, 5);
    assert.equal(guess.labelGuess, 4);
  });

  it('finds the header after a count line', () => {
    const text = fs.readFileSync(
      path.join(corpusData, 'sklearn-boston', 'boston_house_prices.csv'),
      'utf8',
    );
    const guess = guessCsvOptions(text);
    assert.equal(guess.skipLines, 1);
    assert.equal(guess.hasHeader, true);
    assert.equal(guess.columns[13], 'MEDV');
    assert.equal(guess.labelGuess, 13);
  });

  it('reads a header with a byte order mark', () => {
    const file = path.join(corpusData, 'maternal-health-risk', 'Maternal-Health-Risk-Data-Set.csv');
    const guess = guessCsvOptions(fs.readFileSync(file, 'utf8'));
    assert.equal(guess.skipLines, 0);
    assert.equal(guess.columns[0], 'Age');
    assert.equal(guess.columns[guess.labelGuess], 'RiskLevel');
  });

  it('keeps a first data row of integers', () => {
    const guess = guessCsvOptions('1,2,0\n3,4,1\n5,6,0\n');
    assert.equal(guess.skipLines, 0);
    assert.equal(guess.hasHeader, false);
  });

  it('detects semicolons', () => {
    assert.equal(guessCsvOptions('a;b;c\n1;2;3\n').delimiter, ';');
  });
});

describe('data files', () => {
  it('finds MNIST labels beside images', () => {
    assert.equal(guessIdxLabels('/d/t10k-images-idx3-ubyte.gz'), '/d/t10k-labels-idx1-ubyte.gz');
    assert.equal(guessIdxLabels('/d/features.npy'), undefined);
  });

  it('classifies data files by name', () => {
    assert.equal(dataKindOf('t10k-images-idx3-ubyte.gz'), 'idx');
    assert.equal(dataKindOf('iris.data'), 'csv');
    assert.equal(dataKindOf('digits.csv.gz'), 'csv');
    assert.equal(dataKindOf('x.npy'), 'npy');
    assert.equal(dataKindOf('x.npz'), 'npz');
    assert.equal(dataKindOf('x.json'), 'json');
    assert.equal(dataKindOf('x.bin'), 'unknown');
  });
});

describe('guessCsvOptions on a partial head', () => {
  it('skips a count line without counting lines', () => {
    const head = '1000,3,a,b\n1,2,3,0\n4,5,6,1\n7,8';
    const guess = guessCsvOptions(head, false);
    assert.equal(guess.skipLines, 1);
    assert.equal(guess.columns.length, 4);
  });

  it('keeps a first data row of integers', () => {
    const guess = guessCsvOptions('0,3,5,1\n1,2,3,0\n4,5,6,1\n7,8', false);
    assert.equal(guess.skipLines, 0);
  });

  it('drops the cut last line', () => {
    const guess = guessCsvOptions('a,b,c\n1,2,3\n4,5', false);
    assert.deepEqual(guess.columns, ['a', 'b', 'c']);
  });
});
