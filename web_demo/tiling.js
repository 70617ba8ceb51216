// Port of invdn_mobile/tiling.py (plan, windows, mirror padding, feathered blend), function by function, so the page
// tiles a photo exactly as the Python package does. The float arithmetic is the same: origins in float64 with
// round-half-to-even (Python's round), 1-D windows in float64, their outer product rounded to float32, and the blend
// accumulated in float32 (Math.fround after each operation, as numpy's float32 arrays do). Tested in a real browser
// against the golden vectors written by the package (golden/tiling/, `invdn golden`).
//
// No DOM: imported by the page, by the worker and by the tests.

export const MULTIPLE = 4;

const f32 = Math.fround;

export class TilingError extends Error {}

/** Python's round() of a float64: half to even. */
export function roundHalfEven(v) {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

// _axis_origins
function axisOrigins(length, tile, overlap) {
  if (length <= tile) return [0];
  const n = Math.ceil((length - overlap) / (tile - overlap));
  const out = [];
  for (let i = 0; i < n; i++) out.push(roundHalfEven((i * (length - tile)) / (n - 1)));
  return out;
}

/** Tile plan for a height x width photo and square tile (a multiple of `multiple`). */
export function plan(height, width, tile, overlap, multiple = MULTIPLE) {
  if (height < 1 || width < 1) throw new TilingError(`cannot tile an empty ${height}x${width} image`);
  if (tile < multiple || tile % multiple) {
    throw new TilingError(`tile must be a positive multiple of ${multiple}, got ${tile}`);
  }
  if (!(overlap >= 0 && overlap < tile)) {
    throw new TilingError(`overlap must be in [0, tile), got ${overlap} for tile ${tile}`);
  }
  const ph = Math.max(height, tile);
  const pw = Math.max(width, tile);
  const ys = axisOrigins(ph, tile, overlap);
  const xs = axisOrigins(pw, tile, overlap);
  const origins = [];
  for (const y of ys) for (const x of xs) origins.push([y, x]);
  return { height, width, tile, overlap, ys, xs, padded: [ph, pw], origins, length: origins.length };
}

// _ramp: 1-D window, ramps over `before` pixels at the start and `after` at the end, 1 elsewhere (float64).
function ramp(tile, before, after) {
  const w = new Float64Array(tile);
  for (let d = 0; d < tile; d++) {
    let v = 1;
    if (before > 0) v = Math.min(v, (d + 0.5) / before);
    if (after > 0) v = Math.min(v, (tile - 1 - d + 0.5) / after);
    w[d] = v;
  }
  return w;
}

// axis_windows
export function axisWindows(origins, tile) {
  const out = [];
  for (let i = 0; i < origins.length; i++) {
    const o = origins[i];
    const before = i > 0 ? origins[i - 1] + tile - o : 0;
    const after = i + 1 < origins.length ? o + tile - origins[i + 1] : 0;
    out.push(ramp(tile, before, after));
  }
  return out;
}

/** Blend weight (tile*tile Float32Array, row-major) of tile k of the plan (order of p.origins). */
export function tileWindow(p, wy, wx, k) {
  const a = wy[Math.floor(k / p.xs.length)];
  const b = wx[k % p.xs.length];
  const t = p.tile;
  const w = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) w[i * t + j] = a[i] * b[j]; // float64 product -> float32
  return w;
}

/** windows(p): the blend weight of every tile, in the order of p.origins. */
export function windows(p) {
  const wy = axisWindows(p.ys, p.tile);
  const wx = axisWindows(p.xs, p.tile);
  return p.origins.map((_, k) => tileWindow(p, wy, wx, k));
}

/** numpy.pad(mode="symmetric") source index of padded index i on an axis of n pixels (any pad width). */
export function mirrorIndex(i, n) {
  if (i < n) return i;
  const k = i % (2 * n);
  return k < n ? k : 2 * n - 1 - k;
}

/**
 * An image the tiler reads: HWC, `channels` values per pixel in `data` (a Float32Array, or the RGBA bytes of an
 * ImageData with `rgba: true`, whose first three channels are read as v / 255 in float32).
 */
export function floatImage(data, height, width, channels) {
  return { data, height, width, channels, rgba: false };
}

export function rgbaImage(data, height, width) {
  return { data, height, width, channels: 3, rgba: true };
}

/** pad_image: the mirror-padded HWC Float32Array (bottom and right) of a float image, to the plan's padded size. */
export function padImage(img, p) {
  const [ph, pw] = p.padded;
  const c = img.channels;
  const out = new Float32Array(ph * pw * c);
  for (let y = 0; y < ph; y++) {
    const sy = mirrorIndex(y, img.height);
    for (let x = 0; x < pw; x++) {
      const sx = mirrorIndex(x, img.width);
      for (let ch = 0; ch < c; ch++) out[(y * pw + x) * c + ch] = readPixel(img, sy, sx, ch);
    }
  }
  return out;
}

export function readPixel(img, y, x, ch) {
  if (img.rgba) return f32(img.data[(y * img.width + x) * 4 + ch] / 255);
  return img.data[(y * img.width + x) * img.channels + ch];
}

/** One tile at origin (y0, x0) of the padded image, as NCHW (1, C, T, T) float32, without padding the whole image. */
export function extractTile(img, p, y0, x0, out = null) {
  const t = p.tile;
  const c = img.channels;
  const tile = out || new Float32Array(c * t * t);
  for (let i = 0; i < t; i++) {
    const sy = mirrorIndex(y0 + i, img.height);
    for (let j = 0; j < t; j++) {
      const sx = mirrorIndex(x0 + j, img.width);
      for (let ch = 0; ch < c; ch++) tile[ch * t * t + i * t + j] = readPixel(img, sy, sx, ch);
    }
  }
  return tile;
}

/**
 * Streaming form of run_tiled's blend: tiles are added in the plan's order, one tile row (all tiles of one y
 * origin) after another; rows of the photo no later tile touches are finished and handed to `onRows(y0, rows,
 * values)` (values: HWC Float32Array of `rows` x width x channels, the blended result). Memory: one band of
 * `tile` rows instead of the whole padded photo. Arithmetic and order per pixel are those of run_tiled.
 */
export class Blender {
  constructor(p, channels, onRows) {
    this.p = p;
    this.c = channels;
    this.onRows = onRows;
    this.wy = axisWindows(p.ys, p.tile);
    this.wx = axisWindows(p.xs, p.tile);
    this.pw = p.padded[1];
    this.bandY = 0; // padded row of band row 0
    this.acc = new Float32Array(p.tile * this.pw * channels);
    this.weight = new Float32Array(p.tile * this.pw);
    this.next = 0; // index of the next tile expected
    this.done = 0; // photo rows finished
  }

  /** Add tile k's output (NCHW (1, C, T, T) Float32Array), k = 0, 1, ... in order. */
  add(k, out) {
    if (k !== this.next) throw new TilingError(`tiles must be added in order: got ${k}, expected ${this.next}`);
    const p = this.p;
    const t = p.tile;
    const nx = p.xs.length;
    const row = Math.floor(k / nx);
    const [y0, x0] = p.origins[k];
    if (k % nx === 0 && y0 !== this.bandY) this.shift(y0);
    const a = this.wy[row];
    const b = this.wx[k % nx];
    const c = this.c;
    const { acc, weight, pw } = this;
    const by = y0 - this.bandY;
    for (let i = 0; i < t; i++) {
      const base = (by + i) * pw + x0;
      for (let j = 0; j < t; j++) {
        const w = f32(a[i] * b[j]);
        const q = base + j;
        for (let ch = 0; ch < c; ch++) {
          acc[q * c + ch] = f32(acc[q * c + ch] + f32(out[ch * t * t + i * t + j] * w));
        }
        weight[q] = f32(weight[q] + w);
      }
    }
    this.next = k + 1;
    if (this.next === p.origins.length) this.flush(p.height);
  }

  // The next tile row starts at padded row y0: rows above it are final; move the band down to start at y0.
  shift(y0) {
    this.flush(Math.min(y0, this.p.height));
    const keep = this.p.tile - (y0 - this.bandY); // rows of the band still open
    const { pw, c } = this;
    const acc = new Float32Array(this.acc.length);
    const weight = new Float32Array(this.weight.length);
    if (keep > 0) {
      const from = (y0 - this.bandY) * pw;
      acc.set(this.acc.subarray(from * c, (from + keep * pw) * c));
      weight.set(this.weight.subarray(from, from + keep * pw));
    }
    this.acc = acc;
    this.weight = weight;
    this.bandY = y0;
  }

  // Hand the finished photo rows [done, until) to onRows: acc / weight, cropped to the photo's width.
  flush(until) {
    if (until <= this.done) return;
    const { c, pw } = this;
    const width = this.p.width;
    const rows = until - this.done;
    const values = new Float32Array(rows * width * c);
    for (let r = 0; r < rows; r++) {
      const q0 = (this.done + r - this.bandY) * pw;
      for (let x = 0; x < width; x++) {
        const q = q0 + x;
        for (let ch = 0; ch < c; ch++) values[(r * width + x) * c + ch] = f32(this.acc[q * c + ch] / this.weight[q]);
      }
    }
    this.onRows(this.done, rows, values);
    this.done = until;
  }
}

/**
 * run_tiled: apply `fn` (NCHW (1, C, T, T) Float32Array, tile index -> same shape, may be async) tile by tile and
 * blend; returns the HWC Float32Array of the photo's size, or, with `onRows`, hands finished rows to it as they
 * complete (see Blender) and returns null. `onTile(k)` is awaited after each tile; `shouldStop()` is checked before
 * each tile and aborts with an Error named "AbortError".
 */
export async function runTiled(img, fn, p, { onTile = null, shouldStop = null, onRows = null } = {}) {
  const result = onRows ? null : new Float32Array(p.height * p.width * img.channels);
  const rowValues = p.width * img.channels;
  const blender = new Blender(p, img.channels, onRows || ((y0, rows, values) => result.set(values, y0 * rowValues)));
  const buffer = new Float32Array(img.channels * p.tile * p.tile);
  for (let k = 0; k < p.origins.length; k++) {
    if (shouldStop && shouldStop()) {
      const err = new Error("cancelled");
      err.name = "AbortError";
      throw err;
    }
    const [y, x] = p.origins[k];
    blender.add(k, await fn(extractTile(img, p, y, x, buffer), k));
    if (onTile) await onTile(k);
  }
  return result;
}

/** The golden stub per-tile function (golden/tiling/blend.json "stub_formula"). */
export function goldenStub(tile, channels) {
  return (x) => {
    const t = tile;
    const out = new Float32Array(x.length);
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < t; i++) {
        for (let j = 0; j < t; j++) {
          const q = c * t * t + i * t + j;
          out[q] = f32(f32(0.5 * x[q]) + f32((i + 2 * j + 3 * c) / (4 * t)));
        }
      }
    }
    return out;
  };
}

/** float32 output in [0, 1] -> 8-bit like invdn_mobile.imageio.encode_png: round_half_even(clip(v) * 255). */
export function toByte(v) {
  const c = v < 0 ? 0 : v > 1 ? 1 : v; // NaN stays NaN and becomes 0 below
  return roundHalfEven(f32(c * 255)) || 0;
}
