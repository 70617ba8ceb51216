// Web Worker: runs the ONNX artifacts with onnxruntime-web, tile by tile through tiling.js, off the page's thread.
// One worker per backend: `worker.js?backend=wasm` loads the plain WASM build (SIMD, threads when the page is
// cross-origin isolated), `?backend=webgpu` the WebGPU build.
//
// Messages in:  init {id, threads?}, load {model}, denoise {id, rgba, width, height, tiling, keepFloat, adapt},
//               cancel {id},
//               bench {id, height, width, tiling, warmup, repeats}
// Messages out: ready {id, info}, loaded {path, ms}, progress {id, done, total}, rows {id, y0, rows, rgba},
//               result {id, ms, tiles, sigma, strength, float?}, bench {id, times, tiles}, error {id?, message}

import { blendRows, estimateSigma, strengthAt } from "./strength.js";
import { TilingError, floatImage, plan, rgbaImage, runTiled, toByte } from "./tiling.js";

const backend = new URL(self.location.href).searchParams.get("backend") || "wasm";
const BUNDLES = { wasm: "./ort/ort.wasm.min.mjs", webgpu: "./ort/ort.webgpu.min.mjs" };
// WebGPU keeps the model's NCHW layout: with onnxruntime-web's default (NHWC) its Conv kernels give wrong values for a
// 3x3 Conv over 6 or 9 input channels into a multiple of 4 (the compact model's first coupling Conv, 9 -> 32) on
// Chromium's SwiftShader adapter: max abs error 1.35 against ONNX Runtime, where NCHW is within 2e-6 (docs/web.md,
// scripts/webgpu_bisect.py).
const EXECUTION_PROVIDERS = { wasm: "wasm", webgpu: { name: "webgpu", preferredLayout: "NCHW" } };

let ort = null;
let info = null;
const sessions = new Map(); // artifact path -> {session, entry}
const cancelled = new Set();

function fail(id, err) {
  const message = err && err.message ? err.message : String(err);
  self.postMessage({ type: "error", id, message, name: err && err.name });
}

// Let queued messages (cancel) run between tiles: a message-channel round trip is a task boundary without the
// 4 ms clamp of setTimeout.
function yieldToEvents() {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => resolve();
    ch.port2.postMessage(0);
  });
}

async function init(msg) {
  if (!(backend in BUNDLES)) throw new Error(`unknown backend ${backend}`);
  let adapter = null;
  if (backend === "webgpu") {
    if (!self.navigator.gpu) throw new Error("WebGPU is not available in this browser");
    adapter = await self.navigator.gpu.requestAdapter();
    if (!adapter) throw new Error("WebGPU is not available (the browser found no GPU adapter)");
  }
  ort = await import(BUNDLES[backend]);
  const isolated = self.crossOriginIsolated === true;
  const cores = self.navigator.hardwareConcurrency || 1;
  const threads = isolated ? Math.max(1, Math.min(msg.threads || cores, 16)) : 1;
  ort.env.wasm.wasmPaths = new URL("./ort/", self.location.href).href;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = "error";
  if (adapter) ort.env.webgpu.adapter = adapter;
  const gpu = adapter
    ? {
        vendor: adapter.info?.vendor || "",
        architecture: adapter.info?.architecture || "",
        description: adapter.info?.description || adapter.info?.device || "",
        shaderF16: adapter.features.has("shader-f16"),
      }
    : null;
  info = {
    backend,
    version: ort.env.versions?.web || ort.env.versions?.common || "unknown",
    threads: backend === "wasm" ? threads : null,
    crossOriginIsolated: isolated,
    cores,
    gpu,
  };
  return info;
}

async function load(model) {
  if (sessions.has(model.path)) return { ms: 0 };
  const started = performance.now();
  const response = await fetch(model.path);
  if (!response.ok) throw new Error(`cannot fetch ${model.path}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: [EXECUTION_PROVIDERS[backend]],
    graphOptimizationLevel: "all",
  });
  sessions.set(model.path, { session, model });
  return { ms: performance.now() - started };
}

function tileRunner(model) {
  const entry = sessions.get(model.path);
  if (!entry) throw new Error(`model ${model.path} is not loaded`);
  const { session } = entry;
  const t = model.tile[0];
  const input = model.inputs[0].name;
  const output = model.outputs[0].name;
  return async (tile) => {
    const feeds = { [input]: new ort.Tensor("float32", tile, [1, 3, t, t]) };
    const results = await session.run(feeds);
    const data = results[output].data;
    const copy = new Float32Array(data); // the tensor's buffer may be reused by the next run
    for (const value of Object.values(results)) value.dispose?.();
    return copy;
  };
}

function tilePlan(height, width, tiling) {
  return plan(height, width, tiling.tile, tiling.overlap, tiling.multiple);
}

async function denoise(msg) {
  const { id, width, height, tiling, keepFloat, model } = msg;
  const img = rgbaImage(new Uint8ClampedArray(msg.rgba), height, width);
  // Noise-adaptive strength (strength.js): the artifact's calibrated curve at the photo's estimated noise sigma.
  const sigma = estimateSigma(img);
  const strength = msg.adapt && model.strength ? strengthAt(model.strength, sigma) : 1;
  const p = tilePlan(height, width, tiling);
  const run = tileRunner(model);
  const float = keepFloat ? new Float32Array(height * width * 3) : null;
  const started = performance.now();
  let done = 0;
  // Finished rows go to the page as 8-bit RGBA (alpha dropped: opaque) as soon as no later tile touches them.
  const onRows = (y0, rows, values) => {
    blendRows(img, y0, rows, values, strength);
    const rgba = new Uint8ClampedArray(rows * width * 4);
    for (let q = 0, n = rows * width; q < n; q++) {
      rgba[q * 4] = toByte(values[q * 3]);
      rgba[q * 4 + 1] = toByte(values[q * 3 + 1]);
      rgba[q * 4 + 2] = toByte(values[q * 3 + 2]);
      rgba[q * 4 + 3] = 255;
    }
    if (float) float.set(values, y0 * width * 3);
    self.postMessage({ type: "rows", id, y0, rows, rgba }, [rgba.buffer]);
  };
  await runTiled(img, run, p, {
    onRows,
    onTile: async () => {
      done += 1;
      self.postMessage({ type: "progress", id, done, total: p.length });
      await yieldToEvents();
    },
    shouldStop: () => cancelled.has(id),
  });
  const result = { type: "result", id, ms: performance.now() - started, tiles: p.length, sigma, strength, float };
  self.postMessage(result, float ? [float.buffer] : []);
}

// A deterministic photo-like test image (smooth gradients plus seeded noise), HWC float32 in [0, 1].
function syntheticImage(height, width) {
  const data = new Float32Array(height * width * 3);
  let s = 12345;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        const noise = (s / 4294967296 - 0.5) * 0.2;
        const base = 0.5 + 0.3 * Math.sin((x * (c + 1)) / 37 + y / 53);
        data[(y * width + x) * 3 + c] = Math.min(1, Math.max(0, base + noise));
      }
    }
  }
  return floatImage(data, height, width, 3);
}

async function bench(msg) {
  const { id, height, width, tiling, warmup, repeats, model } = msg;
  const img = syntheticImage(height, width);
  const p = tilePlan(height, width, tiling);
  const run = tileRunner(model);
  for (let i = 0; i < warmup; i++) await runTiled(img, run, p);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    await runTiled(img, run, p);
    times.push(performance.now() - started);
    self.postMessage({ type: "progress", id, done: i + 1, total: repeats });
  }
  return { times, tiles: p.length };
}

self.onmessage = async (event) => {
  const msg = event.data;
  try {
    if (msg.type === "cancel") {
      cancelled.add(msg.id);
    } else if (msg.type === "init") {
      self.postMessage({ type: "ready", id: msg.id, info: await init(msg) });
    } else if (msg.type === "load") {
      const { ms } = await load(msg.model);
      self.postMessage({ type: "loaded", id: msg.id, path: msg.model.path, ms });
    } else if (msg.type === "denoise") {
      await denoise(msg);
    } else if (msg.type === "bench") {
      const { times, tiles } = await bench(msg);
      self.postMessage({ type: "bench", id: msg.id, times, tiles });
    }
  } catch (err) {
    if (err instanceof TilingError) err.name = "TilingError";
    fail(msg.id, err);
  } finally {
    if (msg.type === "denoise") cancelled.delete(msg.id);
  }
};
