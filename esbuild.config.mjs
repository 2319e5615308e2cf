// The one build config: every bundle of the extension, its worker, the CLI and the webview.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/** Node bundles; entries whose source does not exist yet are skipped. */
const nodeEntries = {
  cli: 'src/cli/main.ts',
  extension: 'src/extension/extension.ts',
  worker: 'src/extension/worker.ts',
  // The second statistics thread; parallel.ts looks for it beside the bundle.
  'statistics-worker': 'src/core/compute/statistics-worker.ts',
};

const shared = {
  bundle: true,
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

const builds = [
  {
    ...shared,
    entryPoints: Object.fromEntries(
      Object.entries(nodeEntries).filter(([, source]) => fs.existsSync(source)),
    ),
    outdir: 'dist',
    platform: 'node',
    // The TF.js backends register themselves on import, but their package.json marks them free
    // of side effects, so without this esbuild drops `import '@tensorflow/tfjs-backend-cpu'`.
    ignoreAnnotations: true,
    format: 'cjs',
    target: 'node20',
    // vscode is provided by the host; tfjs-node is optional and loaded only when installed.
    external: ['vscode', '@tensorflow/tfjs-node'],
    // h5wasm is an ES module that calls createRequire(import.meta.url); CommonJS has no import.meta.
    define: { 'import.meta.url': 'importMetaUrl' },
    banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
  },
];
if (fs.existsSync('webview/main.ts')) {
  builds.push({
    ...shared,
    entryPoints: { webview: 'webview/main.ts' },
    outdir: 'dist',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    loader: { '.css': 'css' },
  });
}

/** Copies the TF.js wasm binaries next to the bundles, where the backend looks for them. */
function copyWasm() {
  const source = 'node_modules/@tensorflow/tfjs-backend-wasm/dist';
  fs.mkdirSync('dist', { recursive: true });
  for (const file of fs.readdirSync(source).filter((name) => name.endsWith('.wasm'))) {
    fs.copyFileSync(path.join(source, file), path.join('dist', file));
  }
}

copyWasm();
if (watch) {
  const contexts = await Promise.all(builds.map((options) => esbuild.context(options)));
  await Promise.all(contexts.map((context) => context.watch()));
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
