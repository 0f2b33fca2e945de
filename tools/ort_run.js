#!/usr/bin/env node
// ort_run.js - runs an ONNX model with ONNX Runtime (the oracle skiff is
// checked and timed against) on .npy inputs and writes .npy outputs.
//
//   node tools/ort_run.js MODEL.onnx --input NAME=FILE.npy [...] [--output-dir DIR]
//        [--threads 2] [--warmup 1] [--runs 1] [--timings FILE.json] [--quiet]
//
// Session: intra-op threads 2 (--threads), inter-op 1, sequential execution,
// graph optimisation level "all". Outputs go to DIR/<output name>.npy with
// characters outside [A-Za-z0-9._-] replaced by '_' (the same rule as
// `skiff run --output-dir`). Timings (ms) cover session.run only, after
// --warmup untimed runs; the summary line and --timings JSON give the median.
//
// onnxruntime-node comes from scripts/install-deps.sh (npm --ignore-scripts,
// into third_party/npm); the prebuilt native binding ships in the package.
'use strict';

const fs = require('fs');
const path = require('path');

const REPO = path.resolve(__dirname, '..');
const ORT_DIR = path.join(REPO, 'third_party', 'npm', 'node_modules', 'onnxruntime-node');

function die(msg) {
  process.stderr.write(`ort_run: ${msg}\n`);
  process.exit(2);
}

function loadOrt() {
  try {
    return require(ORT_DIR);
  } catch (e) {
    die(`cannot load onnxruntime-node from ${ORT_DIR}: ${e.message}\n` +
        '  (run scripts/install-deps.sh)');
  }
  return null;
}

// ---- .npy ------------------------------------------------------------------
// descr -> [ort tensor type, TypedArray, bytes per element]
const NPY_TYPES = {
  '<f4': ['float32', Float32Array, 4],
  '<f8': ['float64', Float64Array, 8],
  '<i8': ['int64', BigInt64Array, 8],
  '<u8': ['uint64', BigUint64Array, 8],
  '<i4': ['int32', Int32Array, 4],
  '<u4': ['uint32', Uint32Array, 4],
  '<i2': ['int16', Int16Array, 2],
  '<u2': ['uint16', Uint16Array, 2],
  '|i1': ['int8', Int8Array, 1],
  '|u1': ['uint8', Uint8Array, 1],
  '|b1': ['bool', Uint8Array, 1],
  '<f2': ['float16', Uint16Array, 2],
};
const ORT_TO_NPY = {};
for (const [descr, [t]] of Object.entries(NPY_TYPES)) ORT_TO_NPY[t] = descr;

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') die(`${file}: not a .npy file`);
  const major = buf[6];
  let hlen, off;
  if (major === 1) { hlen = buf.readUInt16LE(8); off = 10; } else { hlen = buf.readUInt32LE(8); off = 12; }
  const header = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shapeM = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeM) die(`${file}: malformed .npy header`);
  if (fortran[1] === 'True') die(`${file}: fortran_order arrays are not supported`);
  const info = NPY_TYPES[descr[1]];
  if (!info) die(`${file}: unsupported dtype ${descr[1]}`);
  const dims = shapeM[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const start = off + hlen;
  const bytes = count * info[2];
  if (buf.length - start < bytes) die(`${file}: truncated data`);
  // Copy into an aligned buffer: typed arrays need element-aligned offsets.
  const ab = new ArrayBuffer(bytes);
  new Uint8Array(ab).set(buf.subarray(start, start + bytes));
  let data = new info[1](ab);
  if (info[0] === 'bool') data = new Uint8Array(ab);
  return { type: info[0], dims, data };
}

function writeNpy(file, type, dims, data) {
  const descr = ORT_TO_NPY[type];
  if (!descr) die(`output type ${type} cannot be written as .npy`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

function safeName(name) {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function parseArgs(argv) {
  const o = { inputs: [], threads: 2, warmup: 1, runs: 1, outDir: null, timings: null, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const num = (flag) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) die(`${flag} expects a non-negative integer`);
      i++;
      return n;
    };
    if (a === '--input' && v !== undefined) {
      const eq = v.indexOf('=');
      if (eq <= 0) die(`--input expects NAME=FILE.npy, got '${v}'`);
      o.inputs.push([v.slice(0, eq), v.slice(eq + 1)]);
      i++;
    } else if (a === '--output-dir' && v !== undefined) { o.outDir = v; i++; }
    else if (a === '--timings' && v !== undefined) { o.timings = v; i++; }
    else if (a === '--threads') o.threads = num(a);
    else if (a === '--warmup') o.warmup = num(a);
    else if (a === '--runs') o.runs = Math.max(1, num(a));
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node tools/ort_run.js MODEL.onnx --input NAME=FILE.npy ' +
        '[--output-dir DIR] [--threads N] [--warmup N] [--runs N] [--timings FILE.json] [--quiet]\n');
      process.exit(0);
    } else if (!a.startsWith('--') && !o.model) o.model = a;
    else die(`unknown or incomplete argument '${a}'`);
  }
  if (!o.model) die('no model given (see --help)');
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(o.model, {
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const feeds = {};
  for (const [name, file] of o.inputs) {
    if (!session.inputNames.includes(name)) {
      die(`model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
    }
    const a = readNpy(file);
    feeds[name] = new ort.Tensor(a.type, a.data, a.dims);
  }
  for (const name of session.inputNames) {
    if (!(name in feeds)) die(`input '${name}' not given (--input ${name}=FILE.npy)`);
  }

  let results = null;
  for (let i = 0; i < o.warmup; i++) results = await session.run(feeds);
  const times = [];
  for (let i = 0; i < o.runs; i++) {
    const s = process.hrtime.bigint();
    results = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }

  if (o.outDir) {
    fs.mkdirSync(o.outDir, { recursive: true });
    for (const name of session.outputNames) {
      const t = results[name];
      writeNpy(path.join(o.outDir, `${safeName(name)}.npy`), t.type, t.dims, t.data);
    }
  }
  const summary = {
    model: o.model, threads: o.threads, load_ms: loadMs, warmup: o.warmup,
    runs_ms: times, median_ms: median(times), ort_version: ort.env.versions.node,
    outputs: session.outputNames.map((n) => ({ name: n, type: results[n].type, dims: results[n].dims })),
  };
  if (o.timings) fs.writeFileSync(o.timings, JSON.stringify(summary, null, 1) + '\n');
  if (!o.quiet) {
    const outs = summary.outputs.map((x) => `${x.name}[${x.dims.join(',')}]`).join(' ');
    process.stdout.write(`ort: ${path.basename(o.model)} median ${summary.median_ms.toFixed(3)} ms ` +
      `over ${o.runs} runs (load ${loadMs.toFixed(1)} ms); outputs ${outs}\n`);
  }
}

main().catch((e) => die(e && e.message ? e.message : String(e)));
