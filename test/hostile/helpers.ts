/** Shared fixtures of the hostile-input suite: corpus copies, file hashes and traced CLI runs. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { corpusPath } from '../helpers/corpus';

const root = path.resolve(__dirname, '..', '..');

/** The main file of every corpus model, by corpus folder. */
export const corpusModels: { folder: string; file: string }[] = [
  { folder: 'keras-h5-mnist-mlp-bn-dropout', file: 'mnist_mlp.h5' },
  { folder: 'keras-h5-iris-mlp', file: 'iris_model.h5' },
  { folder: 'keras3-iris-mlp', file: 'iris_model.keras' },
  { folder: 'keras-h5-boston-housing-regression', file: 'boston_housing.h5' },
  { folder: 'keras-h5-maternal-health-mlp', file: 'my_keras_model.h5' },
  { folder: 'keras-h5-weights-only-desharnais-mlp', file: 'mlp.h5' },
  { folder: 'keras-h5-weights-yaml-mnist-mlp-sigmoid', file: 'mlp.h5' },
  { folder: 'keras3-ph-housing-regression', file: 'mlp_model.keras' },
  { folder: 'tfjs-layers-maternal-health-mlp', file: 'model.json' },
  { folder: 'tfjs-layers-ml5-muse-eeg', file: 'model.json' },
  { folder: 'tfjs-layers-legacy-ai2048-conv-dense', file: 'model.json' },
  { folder: 'onnx-pytorch-mnist-mlp', file: 'mnist_mlp.onnx' },
  { folder: 'onnx-extdata-sb3-dqn-cartpole', file: 'model.onnx' },
  { folder: 'onnx-tf2onnx-ph-housing-regression', file: 'mlp_model.onnx' },
  { folder: 'onnx-tf2onnx-keras-functional-untrained', file: 'model.onnx' },
  { folder: 'safetensors-tinygrad-mnist-mlp-nobias', file: 'model.safetensors' },
  { folder: 'pytorch-pth-mnist-mlp', file: 'mlp.pth' },
  { folder: 'pytorch-pth-mnist-mlp', file: 'mlp_20241008_211810.save' },
  { folder: 'pytorch-pth-cifar10-mlp', file: 'mlp_20241113_152500.save' },
];

/** Makes a fresh temporary folder that the caller removes. */
export function temporaryFolder(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `prunelens-hostile-${prefix}-`));
}

/** Copies a corpus model folder (without SOURCE.md) into `target` and returns `target`. */
export function copyCorpusFolder(folder: string, target: string): string {
  fs.mkdirSync(target, { recursive: true });
  for (const name of fs.readdirSync(corpusPath(folder))) {
    if (name !== 'SOURCE.md') fs.copyFileSync(corpusPath(folder, name), path.join(target, name));
  }
  return target;
}

/** SHA-256 of every file under `folder`, by relative path. */
export function hashTree(folder: string): Map<string, string> {
  const hashes = new Map<string, string>();
  const visit = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.isFile()) {
        hashes.set(path.relative(folder, full), createHash('sha256').update(fs.readFileSync(full)).digest('hex'));
      }
    }
  };
  visit(folder);
  return hashes;
}

/** One file system call the traced CLI made. */
export interface TracedAccess {
  call: string;
  path: string;
  /** True for creating, writing, renaming or removing calls. */
  writes: boolean;
}

/** Output, exit code and file system calls of one traced CLI run. */
export interface TracedRun {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  accesses: TracedAccess[];
  milliseconds: number;
}

/** True when strace can trace child processes here. */
export const hasStrace = fs.existsSync('/usr/bin/strace');

/**
 * Runs `prunelens ARGS` under `strace -f` (when installed) and returns the paths it opened,
 * created, renamed or removed. Without strace, `accesses` is empty.
 */
export function runCliTraced(args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<TracedRun> {
  const traceFile = path.join(os.tmpdir(), `prunelens-trace-${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  const node = [process.execPath, '--import', 'tsx', path.join(root, 'src', 'cli', 'main.ts'), ...args];
  const calls = 'trace=open,openat,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat';
  const command = hasStrace ? ['/usr/bin/strace', '-f', '-qq', '-e', calls, '-o', traceFile, ...node] : node;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), {
      cwd: options.cwd ?? root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PRUNELENS_DEBUG: '' },
      timeout: options.timeoutMs ?? 60_000,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const accesses = hasStrace && fs.existsSync(traceFile) ? parseTrace(fs.readFileSync(traceFile, 'utf8')) : [];
      fs.rmSync(traceFile, { force: true });
      resolve({
        code: code ?? -1,
        signal,
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
        accesses,
        milliseconds: Date.now() - started,
      });
    });
  });
}

function parseTrace(text: string): TracedAccess[] {
  const accesses: TracedAccess[] = [];
  for (const line of text.split('\n')) {
    const match = /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(line);
    if (!match) continue;
    const [, call, argumentText] = match;
    const paths = [...argumentText.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((found) => found[1]);
    const writes = /creat|rename|unlink|mkdir/.test(call) || /O_WRONLY|O_RDWR|O_CREAT/.test(argumentText);
    for (const file of paths) accesses.push({ call, path: file, writes });
  }
  return accesses;
}

/** Accesses under `folder` (after resolving it), the way a test checks nothing leaves a sandbox. */
export function accessesUnder(accesses: TracedAccess[], folder: string): TracedAccess[] {
  const real = fs.realpathSync(folder);
  return accesses.filter((access) => access.path === real || access.path.startsWith(real + path.sep) || access.path === folder || access.path.startsWith(folder + path.sep));
}

/** Writing accesses outside every folder in `allowed` and outside the tsx and node caches. */
export function writesOutside(accesses: TracedAccess[], allowed: string[]): TracedAccess[] {
  const roots = allowed.flatMap((folder) => [folder, fs.realpathSync(folder)]);
  return accesses.filter(
    (access) =>
      access.writes &&
      access.path.startsWith('/') &&
      !access.path.startsWith('/dev/') &&
      // tsx keeps its compile cache in a tsx-<uid> folder of the temporary directory.
      !/\/tsx-\d+(\/|$)/.test(access.path) &&
      !access.path.includes('/node-compile-cache/') &&
      !roots.some((folder) => access.path === folder || access.path.startsWith(folder + path.sep)),
  );
}

/** Checks the CLI contract for a rejected input: exit 1 or 2, one stderr line, no stack trace. */
export function describeCliFailure(run: TracedRun): string | null {
  const lines = run.stderr.split('\n').filter((line) => line.length > 0 && !/^\s*\d+% /.test(line));
  if (run.signal) return `killed by ${run.signal}`;
  if (run.code !== 1 && run.code !== 2) return `exit code ${run.code}`;
  if (lines.length !== 1) return `stderr has ${lines.length} lines: ${run.stderr.slice(0, 300)}`;
  if (/\n\s+at /.test(run.stderr)) return 'stderr has a stack trace';
  return null;
}
