/**
 * Prints, for every corpus model with matching data, the task metric on held-out rows after
 * magnitude pruning and after `--method auto`, at 50-95% sparsity. Run with
 * `node --import tsx bench/auto-table.ts [--json]`; it takes several minutes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportDigits } from '../examples/digits-mlp/digits';
import type { CompareReport, Metrics } from '../src/core/reports';
import { autoCases, exampleCase, type AutoCase } from '../test/helpers/auto-cases';
import { runCli } from '../test/helpers/cli';

const sparsities = [0.5, 0.7, 0.8, 0.9, 0.95];

/** One row of the table. */
interface Row {
  model: string;
  sparsity: number;
  metric: keyof Metrics;
  magnitude: number;
  auto: number;
  winner: string;
  atLeastAsGood: boolean;
}

/** Returns true when `auto` is no worse than `magnitude` within the tolerance of the metric. */
export function noWorse(metric: keyof Metrics, auto: number, magnitude: number): boolean {
  if (metric === 'accuracy') return auto >= magnitude - 0.005;
  return auto <= magnitude * 1.02 + 1e-12;
}

async function runCase(entry: AutoCase): Promise<Row[]> {
  const result = await runCli([
    'compare', entry.model, ...entry.args, '--methods', 'magnitude,auto', '--sparsities', sparsities.join(','), '--json', '--quiet',
  ], { timeoutMs: 3_600_000 });
  if (result.code !== 0) throw new Error(`${entry.name}: ${result.stderr.trim()}`);
  const report: CompareReport = JSON.parse(result.stdout);
  return sparsities.map((sparsity, index) => {
    const magnitude = report.methods[0].results[index][report.metric] as number;
    const auto = report.auto?.[index];
    const value = auto?.metrics[report.metric] as number;
    return {
      model: entry.name,
      sparsity,
      metric: report.metric,
      magnitude,
      auto: value,
      winner: auto?.winner ?? '-',
      atLeastAsGood: noWorse(report.metric, value, magnitude),
    };
  });
}

async function main(): Promise<void> {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-auto-'));
  exportDigits(folder);
  const rows: Row[] = [];
  for (const entry of [...autoCases(), exampleCase(folder)]) {
    const started = Date.now();
    rows.push(...(await runCase(entry)));
    process.stderr.write(`${entry.name}: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
  fs.rmSync(folder, { recursive: true, force: true });
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const format = (metric: keyof Metrics, value: number) => (metric === 'accuracy' ? `${(value * 100).toFixed(2)}%` : value.toPrecision(4));
  console.log('| model | sparsity | metric | magnitude | auto | auto chose | no worse |');
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) {
    console.log(`| ${row.model} | ${row.sparsity} | ${row.metric} | ${format(row.metric, row.magnitude)} | ${format(row.metric, row.auto)} | ${row.winner} | ${row.atLeastAsGood ? 'yes' : 'NO'} |`);
  }
  console.log(`${rows.filter((row) => row.atLeastAsGood).length} of ${rows.length} no worse than magnitude`);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
