/** Runs Python with h5py (Debian's python3-h5py) as an independent HDF5 reader in tests. */
import { spawnSync } from 'node:child_process';

let found: string | null | undefined;

/** Returns a Python interpreter that can import h5py and numpy, or null when there is none. */
export function findH5pyPython(): string | null {
  if (found !== undefined) return found;
  found = null;
  for (const candidate of ['python3', '/usr/bin/python3']) {
    const result = spawnSync(candidate, ['-c', 'import h5py, numpy'], { encoding: 'utf8' });
    if (result.status === 0) {
      found = candidate;
      break;
    }
  }
  return found;
}

/** The message tests skip with when h5py is missing. */
export const noH5pyMessage = 'python3-h5py is not installed; skipping the independent HDF5 check';

/** Runs a Python script with arguments and returns its standard output parsed as JSON. */
export function runPythonJson(script: string, args: string[]): unknown {
  const python = findH5pyPython();
  if (!python) throw new Error(noH5pyMessage);
  const result = spawnSync(python, ['-c', script, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`python failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/**
 * Compares two HDF5 files object by object: lists datasets whose values differ, and every
 * group, dataset or attribute that is missing or differs in shape, dtype or value.
 */
export const compareH5Script = String.raw`
import sys, json, h5py, numpy as np
a, b = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
changed, problems = [], []
def attrs_equal(x, y):
    try:
        return bool(np.array_equal(np.asarray(x), np.asarray(y)))
    except Exception:
        return str(x) == str(y)
def check_attrs(path, ox, nx):
    for key in ox.attrs:
        if key not in nx.attrs:
            problems.append('missing attribute ' + path + '@' + key)
        elif not attrs_equal(ox.attrs[key], nx.attrs[key]):
            problems.append('changed attribute ' + path + '@' + key)
    for key in nx.attrs:
        if key not in ox.attrs:
            problems.append('new attribute ' + path + '@' + key)
def visit(name, obj):
    path = '/' + name
    other = b.get(name)
    if other is None:
        problems.append('missing ' + path); return
    check_attrs(path, obj, other)
    if isinstance(obj, h5py.Dataset):
        if obj.shape != other.shape or obj.dtype != other.dtype:
            problems.append('shape or dtype changed ' + path)
        elif not np.array_equal(obj[()], other[()]):
            changed.append(path)
check_attrs('/', a, b)
a.visititems(visit)
def visit_new(name, obj):
    if a.get(name) is None:
        problems.append('new ' + '/' + name)
b.visititems(visit_new)
print(json.dumps({'changed': sorted(changed), 'problems': problems}))
`;

/** Reads datasets of an HDF5 file as flat lists of numbers: `{path: {shape, dtype, values}}`. */
export const readDatasetsScript = String.raw`
import sys, json, h5py, numpy as np
f = h5py.File(sys.argv[1], 'r')
out = {}
for path in sys.argv[2:]:
    d = f[path]
    out[path] = {'shape': list(d.shape), 'dtype': str(d.dtype), 'values': np.asarray(d[()], dtype=np.float64).ravel().tolist()}
print(json.dumps(out))
`;
