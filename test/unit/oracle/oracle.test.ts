import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { CompareReport, ScoreReport } from '../../../src/core/reports';
import { runCli } from '../../helpers/cli';
import { oracleCases, readExpected, readReference } from '../../helpers/oracle';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-oracle-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

type TableRow = Record<string, Record<string, number>> & { sparsity: number };

const columns = ['magnitude_global', 'ecp_global_1step', 'ecp_global_10steps'];

function relativeError(actual: number, reference: number): number {
  return Math.abs(actual - reference) / Math.abs(reference);
}

/**
 * Accuracy tolerance of one table cell, or null where the reference's path cannot be reproduced.
 * Iterative ECP on the Boston model keeps choosing among weights whose importance is rounding
 * noise (units active on one sample, raw inputs near 400) while their bias shifts are large, so
 * its path depends on that noise. `bench/ecp_float64.py`, in float64, matches the one-shot column
 * exactly and none of the iterative one. At 95% on MNIST the accuracy curve is so steep that a
 * last-bit change of the pixel scale moves that float64 run by half a point.
 */
function tableTolerance(model: string, column: string, sparsity: number): number | null {
  if (column !== 'ecp_global_10steps') return 0.005;
  if (model === 'keras-h5-boston-housing-regression') return null;
  if (model === 'keras-h5-mnist-mlp-bn-dropout' && sparsity >= 0.95) return 0.015;
  return 0.005;
}

/** Largest relative error where the reference exceeds 1e-6 of the layer's largest value. */
function worstRelativeError(actual: number[], expected: Float64Array): { error: number; index: number } {
  const largest = expected.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
  let worst = { error: 0, index: -1 };
  expected.forEach((value, index) => {
    if (Math.abs(value) <= 1e-6 * largest) return;
    const error = Math.abs(actual[index] - value) / Math.abs(value);
    if (error > worst.error) worst = { error, index };
  });
  return worst;
}

for (const oracle of oracleCases()) {
  describe(`oracle ${oracle.name}`, () => {
    it('scores match the reference', async () => {
      const out = path.join(scratch, `${oracle.name}.scores.json`);
      const { code, stderr } = await runCli(['score', oracle.model, ...oracle.dataArgs, ...oracle.calibrationArgs, '--method', 'ecp', '--out', out, '--quiet']);
      assert.equal(code, 0, stderr);
      const report: ScoreReport = JSON.parse(fs.readFileSync(out, 'utf8'));
      const expected = readExpected(oracle.name);
      assert.equal(report.samples, expected.calibration_samples);
      assert.deepEqual(report.layers.map((layer) => layer.name), expected.layers.map((layer: { name: string }) => layer.name));
      for (const layer of report.layers) {
        for (const kind of ['importance', 'compensation'] as const) {
          const reference = readReference(oracle.name, layer.name, kind);
          assert.equal(layer[kind]?.length, reference.length, `${layer.name}.${kind} size`);
          const worst = worstRelativeError(layer[kind] as number[], reference);
          assert.ok(
            worst.error <= 1e-3,
            `${layer.name}.${kind}[${worst.index}]: ${layer[kind]?.[worst.index]} vs ${reference[worst.index]} (relative error ${worst.error})`,
          );
        }
      }
    });

    it('pruning table matches the reference', async () => {
      const expected = readExpected(oracle.name);
      const sparsities = expected.table.rows.map((row: { sparsity: number }) => row.sparsity);
      const { code, stdout, stderr } = await runCli([
        'compare', oracle.model, ...oracle.dataArgs, ...oracle.calibrationArgs, ...oracle.evaluationArgs,
        '--methods', 'magnitude,ecp:1,ecp:10', '--sparsities', sparsities.join(','), '--max-layer-sparsity', '1', '--json', '--quiet',
      ]);
      assert.equal(code, 0, stderr);
      const report: CompareReport = JSON.parse(stdout);
      const original = report.original[oracle.metric] as number;
      assert.ok(Math.abs(original - expected.table.original[oracle.metric]) <= 1e-4 * Math.max(1, original));
      expected.table.rows.forEach((row: TableRow, r: number) => {
        columns.forEach((column, m) => {
          const tolerance = tableTolerance(oracle.name, column, row.sparsity);
          if (tolerance === null) return;
          const actual = report.methods[m].results[r];
          const reference = row[column];
          const where = `${column} at ${row.sparsity}`;
          if (oracle.metric === 'accuracy') {
            assert.ok(Math.abs((actual.accuracy as number) - reference.accuracy) <= tolerance + 1e-9, `${where}: accuracy ${actual.accuracy} vs ${reference.accuracy}`);
          } else {
            assert.ok(relativeError(actual.mse as number, reference.mse) <= 0.02, `${where}: mse ${actual.mse} vs ${reference.mse}`);
          }
          if (column !== 'ecp_global_10steps') {
            assert.ok(relativeError(actual.output_mse as number, reference.out_mse) <= 0.02, `${where}: output_mse ${actual.output_mse} vs ${reference.out_mse}`);
          }
        });
      });
    });
  });
}
