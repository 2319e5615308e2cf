import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PruneReport } from '../../../src/core/reports';
import {
  formatCompareReport,
  formatMetrics,
  formatPruneReport,
  formatSensitivityReport,
} from '../../../src/extension/report-format';

function pruneReport(changes: Partial<PruneReport> = {}): PruneReport {
  return {
    output: '/m/iris.pruned-90.h5',
    files: ['/m/iris.pruned-90.h5'],
    method: 'ecp',
    chosen: { method: 'ecp', steps: 10, scope: 'global' },
    steps: 10,
    scope: 'global',
    sparsity: 0.9,
    layers: [{ name: 'dense', sparsity: 0.9, pruned: 90, count: 100 }],
    before: { metrics: { accuracy: 0.96, cross_entropy: 0.1 } },
    after: { metrics: { accuracy: 0.67, cross_entropy: 0.46 } },
    evaluation: { samples: 150, source: '150 samples from iris.csv' },
    calibration: { samples: 150, source: '150 samples from iris.csv' },
    backend: 'wasm',
    seconds: 0.5,
    notes: ['evaluation uses the calibration samples'],
    ...changes,
  };
}

describe('report format', () => {
  it('formats metrics in a fixed order', () => {
    assert.equal(
      formatMetrics({ cross_entropy: 0.5, accuracy: 0.9 }),
      'accuracy 0.9000, cross_entropy 0.5000',
    );
    assert.equal(formatMetrics({ mse: 12345.6 }), 'mse 1.235e+4');
    assert.equal(formatMetrics({}), 'no metrics');
  });

  it('tabulates metrics and layers', () => {
    const markdown = formatPruneReport(pruneReport());
    assert.match(markdown, /^# PruneLens: iris\.pruned-90\.h5$/m);
    assert.match(markdown, /^\| accuracy \| 0\.9600 \| 0\.6700 \|$/m);
    assert.match(markdown, /^\| dense \| 90 \| 100 \| 90% \|$/m);
    assert.match(markdown, /^- evaluation uses the calibration samples$/m);
    assert.doesNotMatch(markdown, /Automatic choice/);
  });

  it('embeds the report as JSON', () => {
    const report = pruneReport();
    const json = /```json\n([\s\S]*)\n```/.exec(formatPruneReport(report))?.[1];
    assert.ok(json, 'no JSON block');
    assert.deepEqual(JSON.parse(json), report);
  });

  it('lists the automatic choice', () => {
    const markdown = formatPruneReport(
      pruneReport({
        method: 'auto',
        chosen: { method: 'obd', steps: 1, scope: 'layer' },
        auto: {
          winner: 'obd-1/layer',
          reason: 'highest validation accuracy',
          fitSamples: 120,
          validationSamples: 30,
          seconds: 2,
          candidates: [
            {
              name: 'obd-1/layer',
              method: 'obd',
              steps: 1,
              scope: 'layer',
              metrics: { accuracy: 0.9 },
              seconds: 1,
            },
          ],
        },
      }),
    );
    assert.match(markdown, /^- Chosen: obd, 1 step\(s\), scope layer$/m);
    assert.match(markdown, /^Automatic choice: obd-1\/layer \(highest validation accuracy\)/m);
    assert.match(markdown, /^\| obd-1\/layer \| 1 \| layer \| accuracy 0\.9000 \|$/m);
  });

  it('tabulates curves by sparsity', () => {
    const sensitivity = formatSensitivityReport('/m/iris.h5', {
      method: 'ecp',
      metric: 'accuracy',
      sparsities: [0.5, 0.9],
      layers: [{ name: 'dense', values: [{ accuracy: 0.9 }, { accuracy: 0.5 }] }],
      backend: 'wasm',
      seconds: 1,
    });
    assert.match(sensitivity, /^\| layer \| 50% \| 90% \|$/m);
    assert.match(sensitivity, /^\| dense \| 0\.9000 \| 0\.5000 \|$/m);
    const comparison = formatCompareReport('/m/iris.h5', {
      sparsities: [0.9],
      metric: 'accuracy',
      original: { accuracy: 0.96 },
      methods: [{ name: 'magnitude', method: 'magnitude', steps: 1, results: [{}] }],
      backend: 'wasm',
      seconds: 1,
    });
    assert.match(comparison, /original model has 0\.9600/);
    assert.match(comparison, /^\| magnitude \| – \|$/m);
  });
});
