// Worker entry of the WorkerClient tests: a worker's entry cannot be a .ts file, so this loads
// the TypeScript fixture through tsx's CommonJS hook.
/* eslint-disable @typescript-eslint/no-require-imports */
require('tsx/cjs');
require('./rpc-worker-fixture.ts');
