import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDataset } from '../../../src/core/data';
import { gzip, makeTempDir, writeFixture } from './fixtures';

const folder = makeTempDir();
const json = (name: string, value: unknown): string =>
  writeFixture(folder, name, JSON.stringify(value));

describe('JSON data', () => {
  it('reads an array of arrays', async () => {
    const data = await loadDataset({
      data: json('rows.json', [
        [1, 2],
        [3, 4],
        [5, 6],
      ]),
    });
    assert.equal(data.samples, 3);
    assert.equal(data.featureCount, 2);
    assert.deepEqual(Array.from(data.features), [1, 2, 3, 4, 5, 6]);
    assert.equal(data.labels, null);
  });

  it('reads an array of numbers', async () => {
    const data = await loadDataset({ data: json('numbers.json', [0.5, 1.5]) });
    assert.equal(data.samples, 2);
    assert.equal(data.featureCount, 1);
  });

  it('reads nested images', async () => {
    const data = await loadDataset({
      data: json('images.json', [
        [
          [1, 2],
          [3, 4],
        ],
        [
          [5, 6],
          [7, 8],
        ],
      ]),
    });
    assert.deepEqual(data.sampleShape, [2, 2]);
    assert.equal(data.featureCount, 4);
  });

  it('reads x and y', async () => {
    const data = await loadDataset({
      data: json('xy.json', { x: [[1], [2], [3]], y: ['b', 'a', 'b'] }),
    });
    assert.deepEqual(data.classNames, ['a', 'b']);
    assert.deepEqual(Array.from(data.labels!), [1, 0, 1]);
    assert.match(data.description, /labels "y" \(2 classes\)/);
  });

  it('honours explicit keys', async () => {
    const file = json('keys.json', { inputs: [[1, 2]], outputs: [0.25] });
    const data = await loadDataset({ data: file, featuresKey: 'inputs', labelsKey: 'outputs' });
    assert.deepEqual(Array.from(data.labels!), [0.25]);
    assert.equal(data.labelKind, 'value');
  });

  it('reads gzipped JSON', async () => {
    const file = writeFixture(folder, 'rows.json.gz', gzip('{"X": [[1, 2]], "labels": [3]}'));
    const data = await loadDataset({ data: file });
    assert.deepEqual(Array.from(data.features), [1, 2]);
    assert.deepEqual(Array.from(data.labels!), [3]);
  });

  it('rejects ragged samples', async () => {
    await assert.rejects(
      loadDataset({ data: json('ragged.json', [[1, 2], [3]]) }),
      /ragged\.json: the array: sample 1 \(zero-based\) has 1 entries at depth 1, but sample 0 has 2/,
    );
  });

  it('rejects non-numbers', async () => {
    await assert.rejects(
      loadDataset({
        data: json('text.json', {
          x: [
            [1, 2],
            [3, 'four'],
          ],
        }),
      }),
      /text\.json: key "x": sample 1 \(zero-based\) contains "four", not a number/,
    );
  });

  it('rejects null entries', async () => {
    await assert.rejects(
      loadDataset({ data: json('null.json', [[1], [null]]) }),
      /null\.json: .*sample 1 \(zero-based\) contains null/,
    );
  });

  it('rejects a missing features key', async () => {
    await assert.rejects(
      loadDataset({ data: json('nokey.json', { inputs: [[1]] }) }),
      /nokey\.json: has no features key one of x\/X\/data\/features; its keys are "inputs"/,
    );
  });

  it('rejects invalid JSON', async () => {
    await assert.rejects(
      loadDataset({ data: writeFixture(folder, 'bad.json', '[[1, 2],') }),
      /bad\.json: is not valid JSON/,
    );
  });

  it('rejects an empty array', async () => {
    await assert.rejects(
      loadDataset({ data: json('empty.json', []) }),
      /empty\.json: contains no samples/,
    );
  });

  it('rejects mismatched label count', async () => {
    await assert.rejects(
      loadDataset({ data: json('count.json', { x: [[1], [2]], y: [1] }) }),
      /count\.json: has 1 labels for 2 samples/,
    );
  });
});
