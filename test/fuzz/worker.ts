/**
 * Child process that opens one input per message with a PruneLens reader and sends back how it
 * ended. The parent (`harness.ts`) kills and replaces it on a hang, so a hang or a crash of one
 * input is caught and recorded instead of stopping the run.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { loadDataset } from '../../src/core/data';
import { CancelledError, PruneLensError } from '../../src/core/errors';
import { formats, openModel } from '../../src/core/formats';
import { hdf5Stopped } from '../../src/core/formats/hdf5-runtime';
import type { LoadedModel } from '../../src/core/formats/types';
import type { HarnessReply, HarnessRequest } from './protocol';

async function runTarget(request: HarnessRequest): Promise<void> {
  if (request.target === 'data') {
    await loadDataset({ data: request.file });
    return;
  }
  const format = formats.find((candidate) => candidate.id === request.target);
  const loaded: LoadedModel = format ? await format.open(request.file) : await openModel(request.file);
  if (request.save) {
    const folder = await fs.mkdtemp(path.join(path.dirname(request.file), 'saved-'));
    try {
      await loaded.save(loaded.network, path.join(folder, path.basename(request.file)));
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  }
}

async function handle(request: HarnessRequest): Promise<HarnessReply> {
  const started = Date.now();
  try {
    await runTarget(request);
    return { id: request.id, outcome: 'ok', milliseconds: Date.now() - started };
  } catch (error) {
    const known = error instanceof PruneLensError || error instanceof CancelledError;
    const message = error instanceof Error ? error.message : String(error);
    let stack: string | undefined;
    if (!known && error instanceof Error) stack = error.stack;
    return {
      id: request.id,
      outcome: known ? 'rejected' : 'exception',
      name: error instanceof Error ? error.name : typeof error,
      message,
      stack,
      file: error instanceof PruneLensError ? error.file : undefined,
      milliseconds: Date.now() - started,
    };
  }
}

process.on('message', (request: HarnessRequest) => {
  void handle(request).then((reply) => process.send?.({ ...reply, retire: hdf5Stopped() !== undefined }));
});
process.send?.({ id: -1, outcome: 'ok', milliseconds: 0 } satisfies HarnessReply);
