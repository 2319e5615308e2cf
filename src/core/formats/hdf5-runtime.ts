/**
 * Loads h5wasm (HDF5 compiled to WebAssembly) and keeps its runtime safe on damaged and hostile
 * files.
 *
 * h5wasm ships only as an ES module, so it is loaded with a dynamic `import()` that TypeScript
 * keeps as is under `module: Node16`. Its Node build uses Emscripten's NODERAWFS, so paths are
 * host paths. Three behaviours of h5wasm 0.10 on damaged files are handled here:
 * - its throwing error handler writes HDF5's error stack to a C `tmpfile()`. NODERAWFS would
 *   create that file in the host's `/tmp`, so it is kept in memory instead;
 * - it throws before closing that file, so each error would leak a descriptor;
 * - some damaged structures make HDF5 call `abort()`, after which the module is unusable for the
 *   rest of the process and Emscripten prints "Aborted(...)" to stderr. The line is kept off
 *   stderr, and `hdf5Stopped` signals that a long-lived process should start a fresh one.
 * HDF5 also follows external links, virtual datasets and external raw storage into other files,
 * for reading and for writing. Only the files PruneLens itself opened may be opened, so those
 * features fail instead of reaching files outside the model.
 */
import * as path from 'node:path';
import type * as H5 from 'h5wasm/node' with { 'resolution-mode': 'import' };

/** The loaded h5wasm module. */
export type H5Wasm = typeof H5;

/** The part of Emscripten's file system used here. */
interface EmscriptenFs {
  streams: (EmscriptenStream | null | undefined)[];
  open(path: string, flags: number | string, mode?: number): EmscriptenStream;
  unlink(path: string): void;
  close(stream: EmscriptenStream): void;
  createStream(stream: object, fd?: number): EmscriptenStream;
  ErrnoError: new (errno: number) => Error;
}

/** An open Emscripten stream; `memory` is set on the in-memory error files made here. */
interface EmscriptenStream {
  path?: string;
  position: number;
  memory?: { bytes: Uint8Array; length: number };
}

/** Prefix of the names musl's `tmpfile()` gives its files. */
const errorFilePrefix = '/tmp/tmpfile_';

/** HDF5 error stacks are a few kilobytes; anything written past this is dropped. */
const maxErrorFileBytes = 1 << 20;

/** A regular file readable and writable by its owner, as a `st_mode`. */
const regularFileMode = 0o100600;

/** Emscripten's errno for an invalid argument. */
const invalidArgument = 28;

/** The O_DIRECTORY flag of Emscripten's `open`. */
const openDirectory = 0o200000;

/** Emscripten's errno for a denied access. */
const accessDenied = 2;

/** Files PruneLens opened with HDF5 and has not closed yet, by resolved path, with a count. */
const openedFiles = new Map<string, number>();

/** The last file HDF5 tried to open on its own, for the error message. */
let rejectedFile: string | undefined;

let loading: Promise<H5Wasm> | undefined;
let loaded: H5Wasm | undefined;
let stoppedBecause: string | undefined;

/** Loads h5wasm once and waits for its WebAssembly module. */
export async function loadH5Wasm(): Promise<H5Wasm> {
  loading ??= (async () => {
    const h5wasm = await importWithoutAbortLine();
    const module = await h5wasm.ready;
    // Without this, HDF5 prints its error stack (HDF5-DIAG) to stderr instead of throwing.
    module.activate_throwing_error_handler();
    (module as unknown as { onAbort?: (what: unknown) => void }).onAbort = (what) => {
      stoppedBecause = String(what);
    };
    confineFileAccess(fileSystem(h5wasm));
    loaded = h5wasm;
    return h5wasm;
  })();
  return loading;
}

/**
 * Returns why HDF5 stopped in this process, or undefined while it works. Once HDF5 has aborted, every
 * later HDF5 call fails, so a process that reads more files should be replaced.
 */
export function hdf5Stopped(): string | undefined {
  return stoppedBecause;
}

/** Lets HDF5 open `file`, which PruneLens is about to open, until `releaseFile` is called. */
export function allowFile(file: string): void {
  const key = path.resolve(file);
  openedFiles.set(key, (openedFiles.get(key) ?? 0) + 1);
}

/** Ends the permission `allowFile` gave. */
export function releaseFile(file: string): void {
  const key = path.resolve(file);
  const count = (openedFiles.get(key) ?? 0) - 1;
  if (count > 0) openedFiles.set(key, count);
  else openedFiles.delete(key);
}

/** Returns, then clears, the last file HDF5 tried to open through a link or external storage. */
export function takeRejectedFile(): string | undefined {
  const file = rejectedFile;
  rejectedFile = undefined;
  return file;
}

/** Closes the in-memory error files h5wasm's throwing error handler leaves open. */
export function closeErrorFiles(): void {
  if (!loaded) return;
  const fs = fileSystem(loaded);
  for (const stream of fs.streams) {
    if (stream?.path?.startsWith(errorFilePrefix)) {
      try {
        fs.close(stream);
      } catch {
        // Already closed: nothing to release.
      }
    }
  }
}

function fileSystem(h5wasm: H5Wasm): EmscriptenFs {
  return (h5wasm as unknown as { FS: EmscriptenFs }).FS;
}

/**
 * Imports h5wasm with a console.error that drops Emscripten's "Aborted(...)" line. Emscripten
 * binds `console.error` once, when the module is created during the import, so the filter has to
 * be in place then. It passes every other line on to the original console.error.
 */
async function importWithoutAbortLine(): Promise<H5Wasm> {
  /* eslint-disable no-console -- the filter wraps console.error itself. */
  const original = console.error;
  console.error = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('Aborted(')) return;
    original.apply(console, args);
  };
  try {
    const h5wasm = await import('h5wasm/node');
    await h5wasm.ready;
    return h5wasm;
  } finally {
    console.error = original;
  }
  /* eslint-enable no-console */
}

/**
 * Makes `tmpfile()` inside HDF5 open an in-memory stream rather than a file in the host's /tmp,
 * and rejects every other file that PruneLens did not open itself. NODERAWFS hands any stream
 * that has `stream_ops` to Emscripten's own read, write and seek.
 */
function confineFileAccess(fs: EmscriptenFs): void {
  const open = fs.open.bind(fs);
  const unlink = fs.unlink.bind(fs);
  fs.open = (file, flags, mode) => {
    // HDF5 lists its filter plugin folder, and a folder has no model data to read or overwrite.
    const folder = typeof flags === 'number' && (flags & openDirectory) !== 0;
    if (!file.startsWith(errorFilePrefix) && !folder) {
      const resolved = path.resolve(file);
      // A file that is open already is reached again only through a link to itself.
      const again = fs.streams.some((stream) => stream?.path && path.resolve(stream.path) === resolved);
      if (!openedFiles.has(resolved) || again) {
        rejectedFile = file;
        throw new fs.ErrnoError(accessDenied);
      }
      return open(file, flags, mode);
    }
    return fs.createStream({
      path: file,
      flags: typeof flags === 'number' ? flags : 2,
      position: 0,
      seekable: true,
      node: { mode: regularFileMode, path: file },
      stream_ops: memoryFileOps(fs),
      memory: { bytes: new Uint8Array(256), length: 0 },
    });
  };
  fs.unlink = (file) => {
    if (file.startsWith(errorFilePrefix)) return;
    unlink(file);
  };
}

function memoryFileOps(fs: EmscriptenFs) {
  return {
    read(stream: EmscriptenStream, heap: Int8Array, offset: number, length: number, position: number) {
      const file = stream.memory!;
      const end = Math.min(file.length, position + length);
      const count = Math.max(0, end - position);
      view(heap, offset, count).set(file.bytes.subarray(position, position + count));
      return count;
    },
    write(stream: EmscriptenStream, heap: Int8Array, offset: number, length: number, position: number) {
      const file = stream.memory!;
      const end = Math.min(position + length, maxErrorFileBytes);
      if (end > file.bytes.length) {
        const grown = new Uint8Array(Math.min(maxErrorFileBytes, Math.max(end, file.bytes.length * 2)));
        grown.set(file.bytes.subarray(0, file.length));
        file.bytes = grown;
      }
      if (end > position) file.bytes.set(view(heap, offset, end - position), position);
      file.length = Math.max(file.length, end);
      return length;
    },
    llseek(stream: EmscriptenStream, offset: number, whence: number) {
      let position = offset;
      if (whence === 1) position += stream.position;
      if (whence === 2) position += stream.memory!.length;
      if (position < 0) throw new fs.ErrnoError(invalidArgument);
      return position;
    },
  };
}

function view(heap: Int8Array, offset: number, length: number): Uint8Array {
  return new Uint8Array(heap.buffer, heap.byteOffset + offset, length);
}
