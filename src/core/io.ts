/** File helpers: atomic writes and paths confined to a model's folder. */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { PruneLensError, UsageError } from './errors';

/**
 * Writes `data` (or its parts, in order) to `target` through a temporary file in the same folder
 * that is renamed into place, so a reader never sees a partial file and a failed write leaves
 * nothing behind.
 */
export async function writeFileAtomic(
  target: string,
  data: Uint8Array | string | Iterable<Uint8Array>,
): Promise<void> {
  const temporary = temporaryPathFor(target);
  try {
    await fs.writeFile(temporary, data, { flag: 'wx' });
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw describeWriteError(target, error);
  } finally {
    settleTemporary(temporary);
  }
}

/**
 * Returns `named pipe`, `device` or `socket` for such a path, and null for a regular file, a
 * folder or a missing path. Readers check this first, because opening a named pipe that has no
 * writer waits forever.
 */
export async function specialFileKind(file: string): Promise<string | null> {
  const stat = await fs.stat(file).catch(() => null);
  if (!stat || stat.isFile() || stat.isDirectory()) return null;
  if (stat.isFIFO()) return 'named pipe';
  if (stat.isSocket()) return 'socket';
  return 'device';
}

/** Largest architecture file read: model configurations are kilobytes, rarely megabytes. */
const maxArchitectureBytes = 64 * 2 ** 20;

/**
 * Reads an architecture file as UTF-8 text, rejecting pipes, devices and files above 64 MiB with
 * a one-line error naming the file.
 */
export async function readArchitectureText(file: string): Promise<string> {
  const special = await specialFileKind(file);
  if (special) throw new PruneLensError(file, `is a ${special}, not an architecture file.`);
  try {
    const { size } = await fs.stat(file);
    if (size > maxArchitectureBytes) {
      throw new PruneLensError(file, `is ${Math.ceil(size / 2 ** 20)} MB, too large for an architecture file.`);
    }
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof PruneLensError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new PruneLensError(file, `cannot read the architecture file (${code}).`, { cause: error });
  }
}

/**
 * Checks that an output path may be written: a missing path, or a regular file when `overwrite`
 * is set. A dangling symbolic link counts as existing, because `lstat` sees the link itself.
 */
export async function checkOutputPath(output: string, overwrite: boolean): Promise<void> {
  const entry = await fs.lstat(output).catch(() => null);
  if (!entry) return;
  if (!overwrite) {
    throw new PruneLensError(output, 'already exists; choose another --out or pass --force to replace it.');
  }
  const target = await fs.stat(output).catch(() => null);
  if (target?.isDirectory()) {
    throw new UsageError(`the output ${output} is a folder; pass a file path to --out.`);
  }
  if (target && !target.isFile()) {
    throw new UsageError(`the output ${output} is not a regular file (a device or pipe); pass a file path to --out.`);
  }
}

/** Temporary files and folders made and not yet renamed into place or removed. */
const pendingTemporaries = new Set<string>();

/**
 * Returns a fresh temporary path next to `target`, counted as pending until `settleTemporary`,
 * so that `removeTemporariesNow` can delete it if the process is stopped meanwhile.
 */
export function temporaryPathFor(target: string): string {
  const suffix = randomBytes(6).toString('hex');
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${suffix}.tmp`);
  pendingTemporaries.add(temporary);
  return temporary;
}

/** Counts a temporary folder as pending, like the paths of `temporaryPathFor`. */
export function trackTemporary(folder: string): void {
  pendingTemporaries.add(folder);
}

/** Marks a temporary path as renamed into place or removed. */
export function settleTemporary(temporary: string): void {
  pendingTemporaries.delete(temporary);
}

/**
 * Deletes every pending temporary file and folder at once, for a process that is about to exit
 * on a signal. Synchronous, because no later event loop turn is certain.
 */
export function removeTemporariesNow(): void {
  for (const temporary of pendingTemporaries) rmSync(temporary, { recursive: true, force: true });
  pendingTemporaries.clear();
}

/** Turns a file system error into a one-line message with the next step. */
export function describeWriteError(target: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC') return new PruneLensError(target, 'cannot write: the disk is full.');
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new PruneLensError(target, 'cannot write: the folder is read-only; choose another output path with --out.');
  }
  if (code === 'ENOENT') return new PruneLensError(target, 'cannot write: the folder does not exist.');
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Resolves `relative` (a path found inside a model file) against the model's folder and rejects
 * absolute paths, `..` segments and symbolic links that lead outside that folder.
 */
export async function resolveInside(
  modelFile: string,
  folder: string,
  relative: string,
): Promise<string> {
  if (relative.length === 0 || relative.includes('\0')) {
    throw new PruneLensError(modelFile, `invalid file reference ${JSON.stringify(relative)}.`);
  }
  const normalized = relative.replace(/\\/g, '/');
  if (path.isAbsolute(normalized) || /^[a-zA-Z]:/.test(normalized) || normalized.split('/').includes('..')) {
    throw new PruneLensError(
      modelFile,
      `refers to ${JSON.stringify(relative)}, which is outside the model's folder; only files beside the model are read.`,
    );
  }
  const candidate = path.resolve(folder, normalized);
  const realFolder = await fs.realpath(folder);
  let realCandidate: string;
  try {
    realCandidate = await fs.realpath(candidate);
  } catch {
    throw new PruneLensError(modelFile, `refers to ${JSON.stringify(relative)}, which was not found beside the model.`);
  }
  if (realCandidate !== realFolder && !realCandidate.startsWith(realFolder + path.sep)) {
    throw new PruneLensError(
      modelFile,
      `refers to ${JSON.stringify(relative)}, a link that leads outside the model's folder; copy the file beside the model instead.`,
    );
  }
  return candidate;
}
