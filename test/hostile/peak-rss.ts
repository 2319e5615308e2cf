/**
 * Measures the peak resident memory of opening (and saving) a synthetic 400 MB model in each
 * binary format, one child process per format. Usage:
 *   node --import tsx test/hostile/peak-rss.ts [MB]
 * Prints, per format, the file size (with ONNX external data), the peak RSS and the peak divided
 * by the file size. The save writes one changed weight.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';

const units = 10_000;

function safetensorsModel(file: string, inputs: number): void {
  const kernelBytes = units * inputs * 4;
  const header = {
    'fc1.weight': { dtype: 'F32', shape: [units, inputs], data_offsets: [0, kernelBytes] },
    'fc1.bias': { dtype: 'F32', shape: [units], data_offsets: [kernelBytes, kernelBytes + units * 4] },
    'fc2.weight': { dtype: 'F32', shape: [10, units], data_offsets: [kernelBytes + units * 4, kernelBytes + units * 44] },
  };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const out = fs.openSync(file, 'w');
  fs.writeSync(out, length);
  fs.writeSync(out, json);
  const chunk = Buffer.from(new Float32Array(units).fill(0.01).buffer);
  for (let row = 0; row < inputs + 11; row++) fs.writeSync(out, chunk);
  fs.closeSync(out);
}

function onnxModel(file: string, inputs: number, external = false): void {
  const tensor = (name: string, dims: number[]): onnx.ITensorProto => {
    const rawData = new Uint8Array(new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.01).buffer);
    if (!external || name !== 'W1') return { name, dims, dataType: 1, rawData };
    fs.writeFileSync(`${file}.data`, rawData);
    const location = { key: 'location', value: `${path.basename(file)}.data` };
    return { name, dims, dataType: 1, dataLocation: 1, externalData: [location] };
  };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [
        { opType: 'Gemm', input: ['x', 'W1', 'b1'], output: ['h'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
        { opType: 'Relu', input: ['h'], output: ['r'] },
        { opType: 'Gemm', input: ['r', 'W2'], output: ['y'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
      ],
      initializer: [tensor('W1', [units, inputs]), tensor('b1', [units]), tensor('W2', [10, units])],
      input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: inputs }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 10 }] } } } }],
    },
  });
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
}

function h5Model(file: string, inputs: number): boolean {
  const script = `
import h5py, json, sys, numpy as np
units, inputs = ${units}, int(sys.argv[2])
cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
  {"class_name": "InputLayer", "config": {"batch_input_shape": [None, inputs], "dtype": "float32", "name": "in"}},
  {"class_name": "Dense", "config": {"name": "d1", "units": units, "activation": "relu", "use_bias": True}},
  {"class_name": "Dense", "config": {"name": "d2", "units": 10, "activation": "linear", "use_bias": True}}]}}
with h5py.File(sys.argv[1], 'w') as f:
    f.attrs['model_config'] = json.dumps(cfg)
    g = f.create_group('model_weights'); g.attrs['layer_names'] = [b'd1', b'd2']
    for name, shape in (('d1', (inputs, units)), ('d2', (units, 10))):
        d = g.create_group(name); d.attrs['weight_names'] = [f'{name}/kernel:0'.encode(), f'{name}/bias:0'.encode()]
        d.create_dataset(f'{name}/kernel:0', data=np.full(shape, 0.01, dtype='f4'))
        d.create_dataset(f'{name}/bias:0', data=np.zeros(shape[1], dtype='f4'))
`;
  return spawnSync('/usr/bin/python3', ['-c', script, file, String(inputs)]).status === 0;
}

// tsx's require hook, as bin/prunelens.js uses: `--import tsx` would also transform h5wasm's
// 4 MB module, which adds about 600 MB to the peak of every HDF5 run.
const child = `
require('tsx/cjs');
const { openModel } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'src', 'core', 'formats'))});
(async () => {
  const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(require("fs").readFileSync("/proc/self/status", "utf8"))[1]);
  const base = hwm();
  const loaded = await openModel(process.argv[1], { maxBytes: Infinity });
  const afterOpen = hwm();
  // A changed weight, so that the first kernel is written as a pruned one would be.
  loaded.network.layers.find((layer) => layer.kind === 'dense').kernel[0] += 1;
  await loaded.save(loaded.network, process.argv[2]);
  const afterSave = hwm();
  process.stdout.write(JSON.stringify({ base, afterOpen, afterSave }));
})();
`;

function measure(file: string): { base: number; afterOpen: number; afterSave: number } {
  const output = path.join(path.dirname(file), `saved-${path.basename(file)}`);
  const result = spawnSync(process.execPath, ['-e', child, file, output], { encoding: 'utf8', maxBuffer: 1 << 20 });
  fs.rmSync(output, { force: true });
  fs.rmSync(`${output}.data`, { force: true });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

function main(): void {
  const megabytes = Number(process.argv[2] ?? 400);
  const inputs = Math.round((megabytes * 1e6) / (units * 4));
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'prunelens-rss-'));
  try {
    const builders: [string, (file: string) => boolean | void][] = [
      ['model.safetensors', (file) => safetensorsModel(file, inputs)],
      ['model.onnx', (file) => onnxModel(file, inputs)],
      ['external.onnx', (file) => onnxModel(file, inputs, true)],
      ['model.h5', (file) => h5Model(file, inputs)],
    ];
    for (const [name, build] of builders) {
      const file = path.join(folder, name);
      if (build(file) === false) {
        process.stdout.write(`${name}: skipped (no h5py)\n`);
        continue;
      }
      const data = fs.existsSync(`${file}.data`) ? fs.statSync(`${file}.data`).size : 0;
      const size = (fs.statSync(file).size + data) / 1e6;
      const { base, afterOpen, afterSave } = measure(file);
      const mb = (kilobytes: number) => (kilobytes / 1000).toFixed(0);
      process.stdout.write(
        `${name}: ${size.toFixed(0)} MB file; peak RSS ${mb(base)} MB before, ${mb(afterOpen)} MB after open ` +
          `(${((afterOpen - base) / 1000 / size).toFixed(2)}x the file), ${mb(afterSave)} MB after save\n`,
      );
      fs.rmSync(file);
      fs.rmSync(`${file}.data`, { force: true });
    }
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

main();
