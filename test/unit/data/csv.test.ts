import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDataset, type DataOptions } from '../../../src/core/data';
import { CancelledError, DataError } from '../../../src/core/errors';
import { corpus, gzip, makeTempDir, writeFixture } from './fixtures';

const folder = makeTempDir();

describe('CSV corpus files', () => {
  it('loads sklearn iris with skipLines', async () => {
    const data = await loadDataset({
      data: corpus('sklearn-iris', 'iris.csv'),
      skipLines: 1,
      labelColumn: 4,
    });
    assert.equal(data.samples, 150);
    assert.equal(data.featureCount, 4);
    assert.deepEqual(data.sampleShape, [4]);
    assert.equal(data.labelKind, 'class');
    assert.equal(data.labelWidth, 1);
    assert.equal(new Set(data.labels).size, 3);
    assert.deepEqual(Array.from(data.features.slice(0, 4)), [5.1, 3.5, 1.4, 0.2].map(Math.fround));
    assert.equal(data.labels![149], 2);
    assert.equal(data.featureNames, undefined);
    assert.match(
      data.description,
      /^150 samples × 4 features from iris\.csv, label column 4 \(3 classes\)$/,
    );
  });

  it('maps UCI iris string labels', async () => {
    const data = await loadDataset({ data: corpus('iris-uci', 'iris.data'), labelColumn: 4 });
    assert.equal(data.samples, 150);
    assert.equal(data.featureCount, 4);
    assert.deepEqual(data.classNames, ['Iris-setosa', 'Iris-versicolor', 'Iris-virginica']);
    assert.equal(data.labels![0], 0);
    assert.equal(data.labels![50], 1);
    assert.equal(data.labels![149], 2);
  });

  it('loads boston as regression', async () => {
    const data = await loadDataset({
      data: corpus('sklearn-boston', 'boston_house_prices.csv'),
      skipLines: 1,
      labelColumn: 'MEDV',
    });
    assert.equal(data.samples, 506);
    assert.equal(data.featureCount, 13);
    assert.equal(data.labelKind, 'value');
    assert.equal(data.featureNames![0], 'CRIM');
    assert.equal(data.featureNames![12], 'LSTAT');
    assert.equal(data.labels![0], 24);
    assert.equal(data.labels![1], Math.fround(21.6));
    assert.match(data.description, /label column "MEDV" \(regression\)/);
  });

  it('reads maternal health header', async () => {
    const data = await loadDataset({
      data: corpus('maternal-health-risk', 'Maternal-Health-Risk-Data-Set.csv'),
      labelColumn: 'RiskLevel',
    });
    assert.equal(data.samples, 1014);
    assert.equal(data.featureCount, 6);
    assert.equal(
      data.featureNames![0],
      'Age',
      'the byte-order mark must not stick to the first name',
    );
    assert.deepEqual(data.classNames, ['high risk', 'low risk', 'mid risk']);
    assert.equal(data.labels![0], 0);
  });

  it('reads gzipped digits', async () => {
    const data = await loadDataset({
      data: corpus('sklearn-digits', 'digits.csv.gz'),
      labelColumn: -1,
    });
    assert.equal(data.samples, 1797);
    assert.equal(data.featureCount, 64);
    assert.equal(data.labelKind, 'class');
    assert.equal(new Set(data.labels).size, 10);
    assert.deepEqual(Array.from(data.labels!.slice(0, 3)), [0, 1, 2]);
    assert.match(data.description, /label column 64 \(10 classes\)/);
  });

  it('selects features by range', async () => {
    const data = await loadDataset({
      data: corpus('sklearn-boston', 'boston_house_prices.csv'),
      skipLines: 1,
      labelColumn: 13,
      features: '0-2,RM',
    });
    assert.deepEqual(data.featureNames, ['CRIM', 'ZN', 'INDUS', 'RM']);
    assert.deepEqual(
      Array.from(data.features.slice(0, 4)),
      [0.00632, 18, 2.31, 6.575].map(Math.fround),
    );
  });

  it('rejects iris count line', async () => {
    await assert.rejects(
      loadDataset({ data: corpus('sklearn-iris', 'iris.csv'), labelColumn: 4 }),
      (error: Error) =>
        error instanceof DataError &&
        /iris\.csv: line 1, column 2: "setosa" is not a number.*--skip-lines 1/.test(error.message),
    );
  });

  it('rejects unknown column name', async () => {
    await assert.rejects(
      loadDataset({
        data: corpus('sklearn-boston', 'boston_house_prices.csv'),
        skipLines: 1,
        labelColumn: 'PRICE',
      }),
      /boston_house_prices\.csv: --label-column: no column named "PRICE"; the header has "CRIM"/,
    );
  });
});

describe('CSV corpus list', () => {
  const loads: [string, DataOptions, number, number, 'class' | 'value'][] = [
    ['sklearn-wine', { data: 'wine_data.csv', skipLines: 1, labelColumn: 13 }, 178, 13, 'class'],
    ['iris-uci', { data: 'bezdekIris.data', labelColumn: 4 }, 150, 4, 'class'],
    [
      'desharnais',
      { data: 'desharnais.csv', labelColumn: 'Effort', features: '2-5,7-12', labelKind: 'value' },
      81,
      10,
      'value',
    ],
  ];
  for (const [folderName, options, samples, featureCount, labelKind] of loads) {
    it(`loads ${options.data}`, async () => {
      const data = await loadDataset({ ...options, data: corpus(folderName, options.data) });
      assert.equal(data.samples, samples);
      assert.equal(data.featureCount, featureCount);
      assert.equal(data.labelKind, labelKind);
    });
  }

  it('rejects ph-houses "na" values', async () => {
    await assert.rejects(
      loadDataset({
        data: corpus('ph-houses', 'PH_houses_v2.csv'),
        labelColumn: 'Price (PHP)',
        features: 'Bedrooms,Bath',
      }),
      /PH_houses_v2\.csv: line 4, column 3 \("Bedrooms"\): missing value "na"; fill it in or leave the column out/,
    );
  });
});

describe('CSV dialects', () => {
  it('detects tab delimiters', async () => {
    const file = writeFixture(folder, 'tabs.tsv', 'a\tb\tlabel\n1\t2\t0\n3\t4\t1\n');
    const data = await loadDataset({ data: file, labelColumn: 'label' });
    assert.deepEqual(Array.from(data.features), [1, 2, 3, 4]);
    assert.deepEqual(data.featureNames, ['a', 'b']);
  });

  it('detects semicolon delimiters', async () => {
    const file = writeFixture(folder, 'semi.csv', 'a;b;c\n1.5;2;x\n3;4;y\n');
    const data = await loadDataset({ data: file, labelColumn: 'c' });
    assert.deepEqual(Array.from(data.features), [1.5, 2, 3, 4]);
    assert.deepEqual(data.classNames, ['x', 'y']);
  });

  it('reads whitespace-separated text', async () => {
    const file = writeFixture(folder, 'spaces.txt', '1.0  2.0 3\n  4.0 5.0   6\n');
    const data = await loadDataset({ data: file, labelColumn: 2 });
    assert.deepEqual(Array.from(data.features), [1, 2, 4, 5]);
    assert.deepEqual(Array.from(data.labels!), [3, 6]);
  });

  it('reads whitespace text with names', async () => {
    const file = writeFixture(
      folder,
      'named-spaces.txt',
      'a b kind\n5.1 3.5 setosa\n6.2 2.9 virginica\n',
    );
    const data = await loadDataset({ data: file, labelColumn: 'kind' });
    assert.deepEqual(data.featureNames, ['a', 'b']);
    assert.deepEqual(data.classNames, ['setosa', 'virginica']);
  });

  it('handles quotes, CRLF and blank lines', async () => {
    const text = '"x, first","y"\r\n"1","2"\r\n3,"4"\r\n\r\n\r\n';
    const file = writeFixture(folder, 'quoted.csv', text);
    const data = await loadDataset({ data: file });
    assert.deepEqual(data.featureNames, ['x, first', 'y']);
    assert.deepEqual(Array.from(data.features), [1, 2, 3, 4]);
    assert.equal(data.labels, null);
    assert.equal(data.labelKind, null);
  });

  it('keeps UTF-8 across chunk boundaries', async () => {
    const names = ['café', '日本語', 'naïve'];
    const rows = Array.from({ length: 9000 }, (_, index) => `${index},${names[index % 3]}`);
    const file = writeFixture(folder, 'utf8.csv', `x,name\n${rows.join('\n')}\n`);
    const data = await loadDataset({ data: file, labelColumn: 'name' });
    assert.ok(data.samples * 12 > 64 * 1024, 'the file must span several parser chunks');
    assert.deepEqual(data.classNames, [...names].sort());
    assert.equal(data.samples, 9000);
  });

  it('reads a gzipped .data file', async () => {
    const file = writeFixture(folder, 'small.data.gz', gzip('1,2,a\n3,4,b\n'));
    const data = await loadDataset({ data: file, labelColumn: 2 });
    assert.deepEqual(Array.from(data.features), [1, 2, 3, 4]);
  });

  it('addresses headerless columns by index', async () => {
    const file = writeFixture(folder, 'noheader.csv', '1,2,3,4\n5,6,7,8\n');
    const data = await loadDataset({ data: file, labelColumn: '0', features: '2-3' });
    assert.deepEqual(Array.from(data.features), [3, 4, 7, 8]);
    assert.deepEqual(Array.from(data.labels!), [1, 5]);
    assert.equal(data.featureNames, undefined);
  });

  it('reads a pandas index header', async () => {
    const file = writeFixture(folder, 'pandas.csv', ',0,1,2\n0,0.5,1.5,1\n1,2.5,3.5,0\n');
    const data = await loadDataset({ data: file, labelColumn: '2', features: '0,1' });
    assert.equal(data.samples, 2);
    assert.deepEqual(data.featureNames, ['0', '1']);
    assert.deepEqual(Array.from(data.features), [0.5, 1.5, 2.5, 3.5]);
    assert.deepEqual(Array.from(data.labels!), [1, 0]);
  });

  it('reads a short 0,1 row as data', async () => {
    const file = writeFixture(folder, 'binary.csv', '0,1\n1,0\n');
    const data = await loadDataset({ data: file, labelColumn: 1 });
    assert.equal(data.samples, 2);
    assert.deepEqual(Array.from(data.labels!), [1, 0]);
  });

  it('treats fractional labels as values', async () => {
    const file = writeFixture(folder, 'regress.csv', 'a,t\n1,0.5\n2,1\n');
    const data = await loadDataset({ data: file, labelColumn: 't' });
    assert.equal(data.labelKind, 'value');
    assert.deepEqual(Array.from(data.labels!), [0.5, 1]);
  });

  it('forces integer labels as values', async () => {
    const file = writeFixture(folder, 'effort.csv', 'a,effort\n1,5152\n2,805\n');
    const data = await loadDataset({ data: file, labelColumn: 'effort', labelKind: 'value' });
    assert.equal(data.labelKind, 'value');
    assert.match(data.description, /regression/);
  });
});

describe('CSV errors', () => {
  it('names text in feature column', async () => {
    const file = writeFixture(folder, 'text.csv', 'a,b,label\n1,2,0\n3,oops,1\n');
    await assert.rejects(
      loadDataset({ data: file, labelColumn: 'label' }),
      /text\.csv: line 3, column 1 \("b"\): "oops" is not a number; choose numeric columns with --features/,
    );
  });

  it('suggests label column for text', async () => {
    const file = writeFixture(folder, 'nolabel.csv', 'a,kind\n1,cat\n');
    await assert.rejects(
      loadDataset({ data: file }),
      /nolabel\.csv: line 2, column 1 \("kind"\).*--label-column/,
    );
  });

  it('rejects missing values', async () => {
    const file = writeFixture(folder, 'missing.csv', 'a,b\n1,2\n3,\n');
    await assert.rejects(
      loadDataset({ data: file }),
      /missing\.csv: line 3, column 1 \("b"\): missing value/,
    );
  });

  it('rejects ragged rows', async () => {
    const file = writeFixture(folder, 'ragged.csv', 'a,b\n1,2\n3,4,5\n');
    await assert.rejects(
      loadDataset({ data: file }),
      /ragged\.csv: line 3 has 3 fields but the header has 2/,
    );
  });

  it('rejects NaN in features', async () => {
    const file = writeFixture(folder, 'nan.csv', 'a,b\n1,2\n3,4\n5,NaN\n');
    await assert.rejects(
      loadDataset({ data: file }),
      /nan\.csv: line 4, column 1 \("b"\): the feature value is NaN/,
    );
  });

  it('rejects infinity in features', async () => {
    const file = writeFixture(folder, 'inf.csv', '1,2\n-inf,4\n');
    await assert.rejects(
      loadDataset({ data: file }),
      /inf\.csv: line 2, column 0: the feature value is -Infinity/,
    );
  });

  it('rejects an empty label', async () => {
    const file = writeFixture(folder, 'nolabelvalue.csv', 'a,y\n1,0\n2, \n');
    await assert.rejects(
      loadDataset({ data: file, labelColumn: 'y' }),
      /nolabelvalue\.csv: line 3: the label in column 1 \("y"\) is empty/,
    );
  });

  it('rejects a header-only file', async () => {
    const file = writeFixture(folder, 'header.csv', 'a,b\n');
    await assert.rejects(loadDataset({ data: file }), /header\.csv: contains no samples/);
  });

  it('rejects an empty file', async () => {
    const file = writeFixture(folder, 'empty.csv', '');
    await assert.rejects(loadDataset({ data: file }), /empty\.csv: is empty/);
  });

  it('rejects too many skipped lines', async () => {
    const file = writeFixture(folder, 'short.csv', '1,2\n3,4\n');
    await assert.rejects(
      loadDataset({ data: file, skipLines: 5 }),
      /short\.csv: has no data after line 5/,
    );
  });

  it('rejects label among features', async () => {
    const file = writeFixture(folder, 'overlap.csv', 'a,b,c\n1,2,3\n');
    await assert.rejects(
      loadDataset({ data: file, labelColumn: 'c', features: 'a,c' }),
      /overlap\.csv: features include the label column 2 \("c"\)/,
    );
  });

  it('rejects a column out of range', async () => {
    const file = writeFixture(folder, 'range.csv', '1,2\n3,4\n');
    await assert.rejects(
      loadDataset({ data: file, labelColumn: 7 }),
      /range\.csv: --label-column: column 7 is out of range; the file has 2 columns/,
    );
  });

  it('rejects bad feature lists', async () => {
    const file = writeFixture(folder, 'lists.csv', 'a,b,c,d\n1,2,3,4\n');
    const cases: [string, RegExp][] = [
      ['a,,b', /lists\.csv: --features: empty entry in "a,,b"/],
      ['3-1', /lists\.csv: --features: range 3-1 runs backwards; write 1-3/],
      ['a,0', /lists\.csv: --features: column 0 \("a"\) is listed twice/],
      ['0-9', /lists\.csv: --features: column 9 is out of range; the file has 4 columns/],
      ['e', /lists\.csv: --features: no column named "e"; the header has "a", "b", "c", "d"/],
    ];
    for (const [features, pattern] of cases) {
      await assert.rejects(loadDataset({ data: file, features }), pattern, features);
    }
  });

  it('rejects an unclosed quote', async () => {
    const file = writeFixture(folder, 'quote.csv', 'a,b\n1,"2\n');
    await assert.rejects(
      loadDataset({ data: file }),
      (error: Error) =>
        error instanceof DataError && /quote\.csv: is not valid CSV/.test(error.message),
    );
  });

  it('rejects a missing file', async () => {
    await assert.rejects(
      loadDataset({ data: `${folder}/absent.csv` }),
      /absent\.csv: file not found/,
    );
  });

  it('rejects a model file', async () => {
    const file = writeFixture(
      folder,
      'model.h5',
      new Uint8Array([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0]),
    );
    await assert.rejects(
      loadDataset({ data: file }),
      /model\.h5: is an HDF5 file \(a Keras model\?\), not data/,
    );
  });

  it('rejects UTF-16 text', async () => {
    const file = writeFixture(folder, 'utf16.csv', Buffer.from('\ufeffa,b\n1,2\n', 'utf16le'));
    await assert.rejects(
      loadDataset({ data: file }),
      /utf16\.csv: is UTF-16 text; save it as UTF-8/,
    );
  });

  it('keeps every message on one line', async () => {
    const file = writeFixture(folder, 'multiline.csv', 'a,b\n1,"x\ny"\n');
    await assert.rejects(
      loadDataset({ data: file }),
      (error: Error) => !error.message.includes('\n'),
    );
  });
});

describe('CSV cancellation', () => {
  const rows = Array.from({ length: 12000 }, (_, index) => `${index},${index % 7},${index % 3}`);
  const file = writeFixture(folder, 'large.csv', `a,b,label\n${rows.join('\n')}\n`);

  it('reads 12000 rows with progress', async () => {
    const fractions: number[] = [];
    const data = await loadDataset(
      { data: file, labelColumn: 'label' },
      { onProgress: (event) => fractions.push(event.fraction) },
    );
    assert.equal(data.samples, 12000);
    assert.equal(data.features[2 * 11999], 11999);
    assert.ok(fractions.length >= 5, `expected progress reports, got ${fractions.length}`);
    assert.equal(fractions.at(-1), 1);
  });

  it('stops on an aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      loadDataset({ data: file }, { signal: controller.signal }),
      CancelledError,
    );
  });

  it('stops when aborted midway', async () => {
    const controller = new AbortController();
    let reports = 0;
    const onProgress = (): void => {
      if (++reports === 2) controller.abort();
    };
    await assert.rejects(
      loadDataset({ data: file }, { signal: controller.signal, onProgress }),
      CancelledError,
    );
    assert.ok(reports >= 2);
  });
});
