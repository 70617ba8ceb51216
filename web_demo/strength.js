// Noise-adaptive strength: the port of invdn_mobile/strength.py, tested against golden/tiling/strength.json.
// output = noisy + s * (model - noisy), with s read off the artifact's calibrated curve (manifest entry "strength")
// at the photo's estimated noise sigma: the model alone loses detail on photos with little noise.

import { readPixel } from "./tiling.js";

/** Donoho's estimate, in 8-bit levels, of a tiler image (floatImage / rgbaImage): estimate_sigma in Python. */
export function estimateSigma(img) {
  const h = img.height - (img.height % 2);
  const w = img.width - (img.width % 2);
  if (h === 0 || w === 0) return 0;
  const n = (h / 2) * (w / 2);
  const diag = new Float32Array(n);
  let total = 0;
  for (let ch = 0; ch < 3; ch++) {
    let k = 0;
    for (let y = 0; y < h; y += 2) {
      for (let x = 0; x < w; x += 2) {
        const a = readPixel(img, y, x, ch);
        const b = readPixel(img, y, x + 1, ch);
        const c = readPixel(img, y + 1, x, ch);
        const d = readPixel(img, y + 1, x + 1, ch);
        diag[k++] = Math.abs((a - b - c + d) / 2);
      }
    }
    diag.sort();
    total += n % 2 ? diag[(n - 1) / 2] : (diag[n / 2 - 1] + diag[n / 2]) / 2;
  }
  return (total / 3 / 0.6745) * 255;
}

/** The curve's strength at `sigma`: piecewise linear between its points, constant beyond the ends (numpy.interp). */
export function strengthAt(curve, sigma) {
  const xs = curve.sigma;
  const ys = curve.strength;
  if (sigma <= xs[0]) return ys[0];
  const last = xs.length - 1;
  if (sigma >= xs[last]) return ys[last];
  let i = 1;
  while (xs[i] < sigma) i++;
  const t = (sigma - xs[i - 1]) / (xs[i] - xs[i - 1]);
  return ys[i - 1] + t * (ys[i] - ys[i - 1]);
}

/**
 * blend in place on finished output rows: `values` (HWC float32, `rows` rows from row `y0`) becomes
 * noisy + s * (values - noisy), noisy read from the input image `img`. s >= 1 leaves them as they are.
 */
export function blendRows(img, y0, rows, values, s) {
  if (s >= 1) return values;
  const f = Math.fround;
  const sf = f(s);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < img.width; x++) {
      for (let ch = 0; ch < 3; ch++) {
        const q = (y * img.width + x) * 3 + ch;
        const noisy = readPixel(img, y0 + y, x, ch);
        values[q] = f(noisy + f(sf * f(values[q] - noisy)));
      }
    }
  }
  return values;
}
