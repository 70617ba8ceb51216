// The page: pick or drop a photo, denoise it in a Web Worker (worker.js) through the package's tiling plan
// (tiling.js), show before/after with a divider, zoom and pan, download the PNG. With ?bench=1 it runs the benchmark
// mode instead and produces one results JSON (benchmarks/schema/results.schema.json) on window.benchResult.
//
// Everything about the models comes from manifest.json (written by `invdn web`): the artifacts, their precision,
// tile, tiling, I/O names, variant, MACs and bytes.

import { plan } from "./tiling.js";

const params = new URLSearchParams(location.search);
const TEST = params.get("test") === "1"; // keep the float output for the tests (window.invdn.output.float)
const MAX_MEGAPIXELS = 100;
const INIT_TIMEOUT_MS = 60000; // a backend that does not start (a GPU driver that never answers) is reported
const CANCEL_GRACE_MS = 3000; // a tile that does not return within this after Cancel: the worker is terminated
const $ = (id) => document.getElementById(id);

const ui = {
  models: [], // manifest entries the page can run
  manifest: null,
  worker: null, // {backend, worker, info, pending}
  job: null, // running {id, cancel}
  nextId: 1,
  file: null, // {name, bitmap, rgba, width, height}
  output: null, // {canvas, float, ...}
};

// Test and script hooks: state, the last error, the last output (float HWC before 8-bit when ?test=1).
const hooks = {
  state: "loading",
  error: null,
  output: null,
  models: [],
  backendInfo: null,
};
window.invdn = hooks;

function setState(state) {
  hooks.state = state;
  document.body.dataset.state = state;
}

function showError(message) {
  hooks.error = message;
  const el = $("error");
  el.textContent = message;
  el.hidden = false;
}

function clearError() {
  hooks.error = null;
  $("error").hidden = true;
  $("error").textContent = "";
}

function status(text) {
  $("status").textContent = text;
}

function errorText(err) {
  if (!err) return "unknown error";
  return err.message || String(err);
}

// ---------------------------------------------------------------- manifest and pickers

async function loadManifest() {
  let response;
  try {
    response = await fetch("manifest.json", { cache: "no-cache" });
  } catch (err) {
    throw new Error(`cannot load manifest.json (${errorText(err)}); serve this page with \`invdn web\``);
  }
  if (!response.ok) {
    throw new Error(`no manifest.json here (HTTP ${response.status}); serve this page with \`invdn web\``);
  }
  const manifest = await response.json();
  const models = (manifest.artifacts || []).filter(
    (e) => e.format === "onnx" && e.path && !(e.z && e.z.as_input) && e.tiling && (!e.gate || e.gate.passed),
  );
  const order = { fp32: 0, fp16: 1, int8: 2 };
  models.sort((a, b) => (order[a.precision] ?? 9) - (order[b.precision] ?? 9) || a.tile[0] - b.tile[0]);
  if (!models.length) throw new Error("manifest.json lists no ONNX model the page can run");
  return { manifest, models };
}

function modelLabel(m) {
  return `${m.precision.toUpperCase()} · ${(m.bytes / 1e6).toFixed(1)} MB · ${m.variant} ${m.tile[0]}²`;
}

function fillPickers() {
  const select = $("model");
  select.innerHTML = "";
  for (const [i, m] of ui.models.entries()) {
    const opt = document.createElement("option");
    opt.value = String(i);
    opt.textContent = modelLabel(m);
    opt.dataset.precision = m.precision;
    select.append(opt);
  }
  const gpu = $("backend").querySelector('option[value="webgpu"]');
  if (!("gpu" in navigator)) {
    gpu.disabled = true;
    gpu.textContent = "WebGPU (not in this browser)";
  }
  const wantBackend = params.get("backend");
  if (wantBackend === "webgpu" && !gpu.disabled) $("backend").value = "webgpu";
  const wantModel = params.get("model") || "fp32";
  const idx = ui.models.findIndex((m) => m.precision === wantModel);
  select.value = String(idx >= 0 ? idx : 0);
  syncPickers();
}

// FP16 artifacts run on WebGPU only: on WASM they fall back to casts around FP32 compute (slower than FP32).
function syncPickers() {
  const backend = $("backend").value;
  for (const opt of $("model").options) {
    const fp16 = opt.dataset.precision === "fp16";
    opt.disabled = fp16 && backend !== "webgpu";
    opt.title = opt.disabled ? "FP16 runs on WebGPU only" : "";
  }
  const current = $("model").selectedOptions[0];
  if (current && current.disabled) {
    const first = [...$("model").options].find((o) => !o.disabled);
    if (first) $("model").value = first.value;
  }
}

function selectedModel() {
  return ui.models[Number($("model").value)];
}

// ---------------------------------------------------------------- worker

function startWorker(backend) {
  const worker = new Worker(`worker.js?backend=${backend}`, { type: "module" });
  const w = { backend, worker, info: null, pending: new Map(), loaded: new Set(), dead: null };
  worker.onmessage = (event) => {
    const msg = event.data;
    const key = msg.id;
    const p = w.pending.get(key);
    if (!p) return;
    if (msg.type === "progress") p.onProgress?.(msg);
    else if (msg.type === "rows") p.onRows?.(msg);
    else {
      w.pending.delete(key);
      if (msg.type === "error") {
        const err = new Error(msg.message);
        err.name = msg.name || "Error";
        p.reject(err);
      } else p.resolve(msg);
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    killWorker(w, new Error(`the ${backend} worker failed: ${event.message || "could not start"}`));
  };
  return w;
}

function request(w, msg, handlers = {}, transfer = []) {
  if (w.dead) return Promise.reject(w.dead);
  return new Promise((resolve, reject) => {
    w.pending.set(msg.id, { resolve, reject, ...handlers });
    w.worker.postMessage(msg, transfer);
  });
}

function killWorker(w, err) {
  w.dead = err;
  w.worker.terminate();
  for (const p of w.pending.values()) p.reject(err);
  w.pending.clear();
  if (ui.worker === w) ui.worker = null;
}

async function getWorker(backend) {
  if (ui.worker && ui.worker.backend === backend && !ui.worker.dead) return ui.worker;
  if (ui.worker) killWorker(ui.worker, new Error("backend changed"));
  const w = startWorker(backend);
  ui.worker = w;
  const threads = Number(params.get("threads")) || 0;
  const timer = setTimeout(
    () => killWorker(w, new Error(`the ${backend} runtime did not start within ${INIT_TIMEOUT_MS / 1000} s`)),
    INIT_TIMEOUT_MS,
  );
  let ready;
  try {
    ready = await request(w, { type: "init", id: ui.nextId++, threads });
  } catch (err) {
    if (!w.dead) killWorker(w, err); // the next try starts a fresh worker
    throw err;
  } finally {
    clearTimeout(timer);
  }
  w.info = ready.info;
  hooks.backendInfo = w.info;
  showFacts();
  return w;
}

async function loadModel(w, model) {
  if (w.loaded.has(model.path)) return;
  status(`Loading ${modelLabel(model)} on ${w.backend.toUpperCase()}…`);
  await request(w, { type: "load", id: ui.nextId++, model });
  w.loaded.add(model.path);
}

function showFacts() {
  const info = ui.worker?.info;
  const parts = [`onnxruntime-web ${info?.version || ui.manifest?.site?.["onnxruntime-web"] || ""}`];
  if (info) {
    parts.push(info.backend === "wasm" ? `WASM SIMD, ${info.threads} thread(s)` : "WebGPU");
    if (info.gpu) parts.push([info.gpu.vendor, info.gpu.architecture].filter(Boolean).join(" "));
  }
  parts.push(crossOriginIsolated ? "cross-origin isolated" : "not cross-origin isolated (1 WASM thread)");
  $("facts").textContent = parts.join(" · ");
}

// ---------------------------------------------------------------- decoding

// Quick structural checks the browser's decoder forgives (it shows a truncated PNG half grey).
function structuralProblem(bytes) {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.every((b, i) => bytes[i] === b)) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 8;
    while (pos + 8 <= bytes.length) {
      const length = view.getUint32(pos);
      const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
      if (pos + 12 + length > bytes.length) return `truncated PNG (the ${type} chunk is cut short)`;
      if (type === "IEND") return null;
      pos += 12 + length;
    }
    return "truncated PNG (no end chunk)";
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    const tail = bytes.subarray(Math.max(0, bytes.length - 4096));
    for (let i = tail.length - 2; i >= 0; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) return null;
    return "truncated JPEG (no end-of-image marker)";
  }
  return null;
}

function imageSize(blob) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(blob);
    const img = new Image();
    img.onload = () => {
      URL.revokeObjectURL(url);
      resolve([img.naturalWidth, img.naturalHeight]);
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error("not an image, or a corrupt or unsupported one"));
    };
    img.src = url;
  });
}

async function decode(file) {
  if (!file.size) throw new Error(`${file.name}: empty file`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const problem = structuralProblem(bytes);
  if (problem) throw new Error(`${file.name}: ${problem}`);
  let width, height;
  try {
    [width, height] = await imageSize(file);
  } catch (err) {
    throw new Error(`${file.name}: ${errorText(err)}`);
  }
  if (!width || !height) throw new Error(`${file.name}: the image has no pixels`);
  const mp = (width * height) / 1e6;
  if (mp > MAX_MEGAPIXELS) {
    throw new Error(`${file.name}: ${width}×${height} is ${mp.toFixed(0)} megapixels; the limit is ${MAX_MEGAPIXELS}`);
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, {
      imageOrientation: "from-image", // EXIF orientation applied, as the Python package does
      premultiplyAlpha: "none",
      colorSpaceConversion: "none", // the model takes the file's sRGB values as they are
    });
  } catch (err) {
    throw new Error(`${file.name}: cannot decode (${errorText(err)})`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data; // alpha is dropped below
  return { name: file.name, bitmap, rgba, width: bitmap.width, height: bitmap.height };
}

// ---------------------------------------------------------------- denoising

async function openFile(file) {
  if (!file) return;
  await cancelJob();
  clearError();
  setState("decoding");
  status(`Reading ${file.name}…`);
  $("download").hidden = true;
  let decoded;
  try {
    decoded = await decode(file);
  } catch (err) {
    setState(ui.file ? "done" : "ready");
    status("");
    showError(errorText(err));
    return;
  }
  ui.file = decoded;
  ui.output = null;
  hooks.output = null;
  view.setImages(decoded.bitmap, null);
  $("viewer").hidden = false;
  $("actions").hidden = false;
  view.fit();
  await denoise();
}

async function denoise() {
  if (!ui.file) return;
  await cancelJob();
  clearError();
  const model = selectedModel();
  const backend = $("backend").value;
  const { width, height } = ui.file;
  const tiling = model.tiling;
  const p = plan(height, width, tiling.tile, tiling.overlap, tiling.multiple);
  const id = ui.nextId++;
  const job = { id, cancelled: false };
  ui.job = job;
  setState("running");
  $("run").disabled = true;
  $("download").hidden = true;
  showProgress(0, p.length);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  try {
    const w = await getWorker(backend);
    job.worker = w;
    await loadModel(w, model);
    if (job.cancelled) throw abortError();
    status(`Denoising ${ui.file.name} (${width}×${height}, ${p.length} tile(s) of ${tiling.tile}²)…`);
    view.setImages(ui.file.bitmap, canvas);
    const rgba = ui.file.rgba.slice(); // a copy goes to the worker
    const started = performance.now();
    const result = await request(
      w,
      {
        type: "denoise",
        id,
        rgba: rgba.buffer,
        width,
        height,
        tiling,
        keepFloat: TEST,
        model,
        adapt: $("adapt").checked,
      },
      {
        onProgress: (m) => showProgress(m.done, m.total),
        onRows: (m) => {
          ctx.putImageData(new ImageData(new Uint8ClampedArray(m.rgba), width, m.rows), 0, m.y0);
          view.requestRender();
        },
      },
      [rgba.buffer],
    );
    const seconds = (performance.now() - started) / 1000;
    ui.output = { canvas };
    hooks.output = {
      width,
      height,
      float: result.float, // HWC float32 before clipping and 8-bit rounding (only with ?test=1)
      ms: result.ms,
      tiles: result.tiles,
      sigma: result.sigma, // the photo's estimated noise sigma (8-bit levels) and the strength applied
      strength: result.strength,
      model: model.file,
      backend,
    };
    const how = `${modelLabel(model)} on ${backend.toUpperCase()}`;
    const percent = Math.round(result.strength * 100);
    const kept =
      result.strength < 1
        ? ` Estimated noise σ ${result.sigma.toFixed(1)}: kept ${percent}% of the model's change.`
        : "";
    status(`Done: ${p.length} tile(s) in ${seconds.toFixed(1)} s with ${how}.${kept}`);
    prepareDownload(canvas, ui.file.name);
    setState("done");
  } catch (err) {
    if (err.name === "AbortError" || job.cancelled) {
      status("Cancelled.");
      setState("cancelled");
    } else {
      status("");
      showError(`Denoising failed: ${errorText(err)}`);
      setState("error");
    }
  } finally {
    if (ui.job === job) ui.job = null;
    $("progress-row").hidden = true;
    $("run").disabled = false;
  }
}

function abortError() {
  const err = new Error("cancelled");
  err.name = "AbortError";
  return err;
}

function showProgress(done, total) {
  $("progress-row").hidden = false;
  $("progress").max = total;
  $("progress").value = done;
  $("progress-text").textContent = `${done} / ${total} tiles`;
}

// Ask the worker to stop between tiles; if a tile takes too long, terminate the worker (a fresh one is made next).
async function cancelJob() {
  const job = ui.job;
  if (!job) return;
  job.cancelled = true;
  const w = job.worker;
  if (w && !w.dead) {
    w.worker.postMessage({ type: "cancel", id: job.id });
    const deadline = performance.now() + CANCEL_GRACE_MS;
    while (ui.job === job && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (ui.job === job) killWorker(w, abortError());
  }
  while (ui.job === job) await new Promise((r) => setTimeout(r, 20));
}

function prepareDownload(canvas, name) {
  canvas.toBlob((blob) => {
    if (!blob) return;
    const link = $("download");
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.download = `${name.replace(/\.[^.]+$/, "")}-denoised.png`;
    link.hidden = false;
  }, "image/png");
}

// ---------------------------------------------------------------- before/after view

const view = {
  canvas: null,
  before: null,
  after: null,
  scale: 1,
  ox: 0,
  oy: 0,
  split: 0.5,
  pending: false,
  pointers: new Map(),
  mode: null,
  pinch: null,

  init(canvas) {
    this.canvas = canvas;
    new ResizeObserver(() => this.requestRender()).observe(canvas);
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel"]) canvas.addEventListener(type, (e) => this.up(e));
    canvas.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    canvas.addEventListener("dblclick", () => this.fit());
    canvas.addEventListener("keydown", (e) => this.key(e));
  },

  setImages(before, after) {
    this.before = before;
    this.after = after;
    this.requestRender();
  },

  size() {
    return [this.canvas.clientWidth, this.canvas.clientHeight];
  },

  fit() {
    if (!this.before) return;
    const [w, h] = this.size();
    this.scale = Math.min(w / this.before.width, h / this.before.height);
    this.ox = (w - this.before.width * this.scale) / 2;
    this.oy = (h - this.before.height * this.scale) / 2;
    this.requestRender();
  },

  zoomAt(x, y, factor) {
    if (!this.before) return;
    const [w, h] = this.size();
    const fitScale = Math.min(w / this.before.width, h / this.before.height);
    const scale = Math.min(32, Math.max(fitScale / 4, this.scale * factor));
    this.ox = x - ((x - this.ox) * scale) / this.scale;
    this.oy = y - ((y - this.oy) * scale) / this.scale;
    this.scale = scale;
    this.requestRender();
  },

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  },

  nearSplit(x) {
    return this.after && Math.abs(x - this.split * this.size()[0]) < 24;
  },

  down(e) {
    this.canvas.setPointerCapture(e.pointerId);
    const p = this.point(e);
    this.pointers.set(e.pointerId, p);
    if (this.pointers.size === 1) {
      this.mode = this.nearSplit(p.x) ? "split" : "pan";
    } else if (this.pointers.size === 2) {
      const [a, b] = [...this.pointers.values()];
      this.mode = "pinch";
      this.pinch = {
        dist: Math.hypot(a.x - b.x, a.y - b.y) || 1,
        mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 },
        scale: this.scale,
        ox: this.ox,
        oy: this.oy,
      };
    }
    this.canvas.classList.toggle("splitting", this.mode === "split");
  },

  move(e) {
    const p = this.point(e);
    if (!this.pointers.has(e.pointerId)) {
      this.canvas.classList.toggle("splitting", !!this.nearSplit(p.x));
      return;
    }
    const last = this.pointers.get(e.pointerId);
    this.pointers.set(e.pointerId, p);
    if (this.mode === "split") {
      this.split = Math.min(1, Math.max(0, p.x / this.size()[0]));
    } else if (this.mode === "pan") {
      this.ox += p.x - last.x;
      this.oy += p.y - last.y;
    } else if (this.mode === "pinch" && this.pointers.size >= 2) {
      const [a, b] = [...this.pointers.values()];
      const s = this.pinch;
      const scale = Math.min(32, Math.max(0.01, (s.scale * Math.hypot(a.x - b.x, a.y - b.y)) / s.dist));
      const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      this.ox = mid.x - ((s.mid.x - s.ox) * scale) / s.scale;
      this.oy = mid.y - ((s.mid.y - s.oy) * scale) / s.scale;
      this.scale = scale;
    }
    this.requestRender();
  },

  up(e) {
    this.pointers.delete(e.pointerId);
    if (this.pointers.size === 0) this.mode = null;
    else if (this.mode === "pinch") this.mode = "pan";
    this.canvas.classList.remove("splitting");
  },

  wheel(e) {
    e.preventDefault();
    const p = this.point(e);
    this.zoomAt(p.x, p.y, Math.exp(-e.deltaY * 0.0015));
  },

  key(e) {
    const [w, h] = this.size();
    const moves = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] };
    if (e.key === "+" || e.key === "=") this.zoomAt(w / 2, h / 2, 1.25);
    else if (e.key === "-") this.zoomAt(w / 2, h / 2, 0.8);
    else if (e.key === "0") this.fit();
    else if (e.key === "[") this.split = Math.max(0, this.split - 0.05);
    else if (e.key === "]") this.split = Math.min(1, this.split + 0.05);
    else if (moves[e.key]) {
      this.ox += moves[e.key][0];
      this.oy += moves[e.key][1];
    } else return;
    e.preventDefault();
    this.requestRender();
  },

  requestRender() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  },

  render() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const [w, h] = this.size();
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#0b0c0d";
    ctx.fillRect(0, 0, w, h);
    if (!this.before) return;
    ctx.imageSmoothingEnabled = this.scale < 2; // pixels stay crisp when zoomed in
    ctx.imageSmoothingQuality = "high";
    const iw = this.before.width * this.scale;
    const ih = this.before.height * this.scale;
    ctx.drawImage(this.before, this.ox, this.oy, iw, ih);
    if (!this.after) return;
    const x = Math.round(this.split * w);
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, 0, w - x, h);
    ctx.clip();
    ctx.drawImage(this.after, this.ox, this.oy, iw, ih); // rows still in progress show the photo beneath
    ctx.restore();
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(x - 1, 0, 2, h);
    ctx.beginPath();
    ctx.arc(x, h / 2, 16, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = "#121416";
    ctx.font = "bold 14px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("◀▶", x, h / 2 + 1);
    label(ctx, "noisy", 12, 12, "left");
    label(ctx, "denoised", w - 12, 12, "right");
  },
};

function label(ctx, text, x, y, align) {
  ctx.font = "600 13px system-ui, sans-serif";
  ctx.textAlign = align;
  ctx.textBaseline = "top";
  const width = ctx.measureText(text).width;
  const left = align === "left" ? x - 6 : x - width - 6;
  ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
  ctx.fillRect(left, y - 4, width + 12, 22);
  ctx.fillStyle = "#ffffff";
  ctx.fillText(text, x, y);
}

// ---------------------------------------------------------------- benchmark mode

function listParam(name, fallback) {
  const value = params.get(name);
  return (value ? value.split(",") : fallback).map((s) => s.trim()).filter(Boolean);
}

function intParam(name, fallback, min) {
  const value = params.get(name);
  if (value === null) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`URL parameter ${name}=${value}: want an integer ≥ ${min}`);
  return n;
}

function parseSize(text) {
  const m = /^(\d+)(?:x(\d+))?$/.exec(text);
  if (!m) throw new Error(`sizes: ${text} is not N or HxW`);
  const h = Number(m[1]);
  const w = Number(m[2] || m[1]);
  if (h < 1 || w < 1 || h * w > MAX_MEGAPIXELS * 1e6) throw new Error(`sizes: ${text} is out of range`);
  return [h, w];
}

function quantile(sorted, q) {
  // numpy's default (linear interpolation between closest ranks)
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const round3 = (v) => Math.round(v * 1000) / 1000;

async function browserFacts(gpuInfo) {
  const ua = navigator.userAgent;
  let brand = null;
  let full = null;
  let arch = "";
  let platform = navigator.platform || "";
  if (navigator.userAgentData) {
    try {
      const hi = await navigator.userAgentData.getHighEntropyValues([
        "architecture",
        "bitness",
        "fullVersionList",
        "platformVersion",
      ]);
      const b = (hi.fullVersionList || []).find((x) => /Chrom|Edge|Opera/.test(x.brand) && x.brand !== "Not");
      if (b) {
        brand = b.brand;
        full = b.version;
      }
      arch = [hi.architecture, hi.bitness ? `${hi.bitness}-bit` : ""].filter(Boolean).join(" ");
      platform = [navigator.userAgentData.platform, hi.platformVersion].filter(Boolean).join(" ");
    } catch {
      // high-entropy values refused: fall back to the user agent
    }
  }
  if (!brand) {
    const m = /(Firefox|Edg|Chrome|Chromium|Version)\/([\d.]+)/.exec(ua);
    brand = m ? (m[1] === "Version" ? "Safari" : m[1]) : "browser";
    full = m ? m[2] : "0";
  }
  const short = brand.toLowerCase().replace(/^google /, "").replace(/[^a-z0-9]+/g, "-");
  const name = (params.get("machine") || `${short}-${String(full).split(".")[0]}`).replace(/[^A-Za-z0-9._-]/g, "-");
  const gpu = gpuInfo ? [gpuInfo.vendor, gpuInfo.architecture, gpuInfo.description].filter(Boolean).join(" ") : null;
  return {
    name: name.slice(0, 64),
    kind: "browser",
    cpu: `${arch || "unknown architecture"} (the browser does not expose the CPU model)`,
    cores: navigator.hardwareConcurrency || 1,
    gpu: gpu || null,
    os: platform || "unknown",
    device_model: ua,
    libraries: {
      "onnxruntime-web": ui.worker?.info?.version || ui.manifest?.site?.["onnxruntime-web"] || "unknown",
      browser: `${brand} ${full}`,
    },
  };
}

function benchRow(backend, precision, model, size, extra) {
  const [h, w] = size;
  return {
    backend: `ort-web-${backend}`,
    format: "onnx",
    precision,
    ...(model
      ? {
          variant: model.variant,
          artifact: model.file,
          target: model.target ?? null,
          parity_status: model.gate?.status ?? "unverified", // the export's parity verdict, for `invdn report`
        }
      : { artifact: null }),
    device: backend,
    size: `${h}x${w}`,
    height: h,
    width: w,
    tile: model ? model.tile[0] : null,
    median_ms: null,
    p90_ms: null,
    speedup_vs_torch_eager: null, // no PyTorch in a browser
    macs: null,
    bytes: model ? model.bytes : null,
    batch: 1,
    ...extra,
  };
}

async function runBenchmark() {
  $("picker").hidden = true;
  $("bench").hidden = false;
  const log = (line) => {
    $("bench-log").textContent += `${line}\n`;
  };
  setState("bench");
  try {
    const sizes = listParam("sizes", ["256"]).map(parseSize);
    const repeats = intParam("repeats", 10, 1);
    const warmup = intParam("warmup", 2, 0);
    const precisions = listParam("models", [...new Set(ui.models.map((m) => m.precision))]);
    const backends = listParam("backends", ["wasm"]);
    const fp16Wasm = params.get("fp16wasm") === "1";
    const sizeList = sizes.map((s) => s.join("x")).join(", ");
    log(`sizes ${sizeList}; models ${precisions.join(", ")}; backends ${backends.join(", ")}`);
    log(`warm-up ${warmup}, repeats ${repeats}; crossOriginIsolated ${crossOriginIsolated}`);
    const rows = [];
    let gpuInfo = null;
    for (const backend of backends) {
      if (!["wasm", "webgpu"].includes(backend)) throw new Error(`backends: unknown backend ${backend} (wasm, webgpu)`);
      let w = null;
      let why = null;
      try {
        w = await getWorker(backend);
        if (w.info.gpu) gpuInfo = w.info.gpu;
        log(`${backend}: onnxruntime-web ${w.info.version}, threads ${w.info.threads ?? "-"}`);
      } catch (err) {
        why = errorText(err);
        log(`${backend}: skipped (${why})`);
      }
      for (const precision of precisions) {
        const model = ui.models.find((m) => m.precision === precision);
        let skip = why;
        if (!skip && !model) skip = `no ${precision} ONNX artifact in manifest.json`;
        if (!skip && precision === "fp16" && backend === "wasm" && !fp16Wasm) {
          skip =
            "FP16 runs on WebGPU only (on WASM it falls back to casts and FP32 compute); add fp16wasm=1 to time it";
        }
        let loadError = null;
        if (!skip) {
          try {
            await loadModel(w, model);
          } catch (err) {
            loadError = `cannot load ${model.file}: ${errorText(err)}`;
            log(`${backend} ${precision}: ${loadError}`);
          }
        }
        for (const size of sizes) {
          if (skip || loadError) {
            const rowStatus = skip ? "skipped" : "failed";
            rows.push(benchRow(backend, precision, model, size, { status: rowStatus, error: skip || loadError }));
            continue;
          }
          const p = plan(size[0], size[1], model.tiling.tile, model.tiling.overlap, model.tiling.multiple);
          try {
            log(`${backend} ${precision} ${size.join("x")}: ${p.length} tile(s), running…`);
            const id = ui.nextId++;
            const res = await request(w, {
              type: "bench",
              id,
              height: size[0],
              width: size[1],
              tiling: model.tiling,
              warmup,
              repeats,
              model,
            });
            const sorted = [...res.times].sort((a, b) => a - b);
            const median = quantile(sorted, 0.5);
            const macs = model.macs && model.macs.graph != null ? model.macs.graph * res.tiles : null;
            rows.push(
              benchRow(backend, precision, model, size, {
                tiles: res.tiles,
                status: "ok",
                median_ms: round3(median),
                p90_ms: round3(quantile(sorted, 0.9)),
                min_ms: round3(sorted[0]),
                repeats,
                warmup,
                threads: w.info.threads,
                macs,
                gmacs_per_s: macs != null ? round3(macs / 1e9 / (median / 1000)) : null,
                peak_fraction: null,
              }),
            );
            const p90 = quantile(sorted, 0.9);
            log(`  median ${median.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms, min ${sorted[0].toFixed(1)} ms`);
          } catch (err) {
            const error = errorText(err);
            rows.push(benchRow(backend, precision, model, size, { tiles: p.length, status: "failed", error }));
            log(`  failed: ${errorText(err)}`);
          }
        }
      }
      if (w) killWorker(w, new Error("benchmark of this backend finished"));
    }
    for (const row of rows) {
      const fp32 = rows.find(
        (r) => r.backend === row.backend && r.size === row.size && r.precision === "fp32" && r.status === "ok",
      );
      row.speedup_vs_fp32 = row.status === "ok" && fp32 ? round3(fp32.median_ms / row.median_ms) : null;
    }
    const doc = {
      schema_version: 1,
      source: "web_demo",
      date: new Date().toISOString(),
      machine: await browserFacts(gpuInfo),
      rows,
    };
    window.benchResult = doc;
    const blob = new Blob([JSON.stringify(doc, null, 2) + "\n"], { type: "application/json" });
    const link = $("bench-download");
    link.href = URL.createObjectURL(blob);
    link.download = `${doc.machine.name}-${backends.join("-")}-${doc.date.slice(0, 10)}.json`;
    link.hidden = false;
    log("done");
    setState("done");
  } catch (err) {
    window.benchError = errorText(err);
    showError(`Benchmark failed: ${errorText(err)}`);
    setState("error");
  } finally {
    window.benchDone = true;
  }
}

// ---------------------------------------------------------------- wiring

function wire() {
  view.init($("view"));
  $("file").addEventListener("change", (e) => {
    const file = e.target.files && e.target.files[0];
    e.target.value = ""; // the same file can be picked again
    openFile(file);
  });
  $("backend").addEventListener("change", () => {
    syncPickers();
    if (ui.file && !ui.job) $("run").textContent = "Denoise again";
  });
  $("adapt").addEventListener("change", () => {
    if (ui.file && !ui.job) $("run").textContent = "Denoise again";
  });
  $("run").addEventListener("click", () => denoise());
  $("cancel").addEventListener("click", () => cancelJob());
  $("fit").addEventListener("click", () => view.fit());
  $("zoom1").addEventListener("click", () => {
    const [w, h] = view.size();
    view.zoomAt(w / 2, h / 2, 1 / view.scale);
  });
  let depth = 0;
  document.addEventListener("dragenter", (e) => {
    e.preventDefault();
    depth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove("dragging");
  });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) openFile(file);
  });
}

async function main() {
  wire();
  showFacts();
  try {
    const { manifest, models } = await loadManifest();
    ui.manifest = manifest;
    ui.models = models;
    hooks.models = models.map((m) => ({ file: m.file, precision: m.precision, tile: m.tile[0], target: m.target }));
    fillPickers();
  } catch (err) {
    showError(errorText(err));
    setState("error");
    window.benchError = errorText(err);
    window.benchDone = true;
    return;
  }
  if (params.get("bench") === "1") {
    await runBenchmark();
    return;
  }
  setState("ready");
  status("Choose a photo to denoise.");
}

hooks.ready = main();
window.addEventListener("unhandledrejection", (e) => showError(`Unexpected error: ${errorText(e.reason)}`));
