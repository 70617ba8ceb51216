// Noise-adaptive strength: the port of web_demo/strength.js (itself the port of invdn_mobile/strength.py), tested
// against golden/tiling/strength.json. output = noisy + s * (model - noisy), with s read off the artifact's
// calibrated curve (manifest entry "strength") at the photo's estimated noise sigma: the model alone loses detail
// on photos with little noise.
//
//   strength.js      strength.py                 here
//   estimateSigma    estimate_sigma              estimateSigma
//   strengthAt       StrengthCurve.__call__      strengthAt
//   blendRows        blend                       blendRows

import Foundation

/// The one estimator this port implements (strength.py: ESTIMATOR). A manifest naming another is refused.
public let sigmaEstimator = "donoho-haar-diagonal-mad-v1"

/// Donoho's estimate, in 8-bit levels, of a tiler image (strength.js: estimateSigma; strength.py: estimate_sigma):
/// per channel the median absolute Haar diagonal (a - b - c + d) / 2 of the 2x2 blocks (an odd last row or column
/// dropped; even count: the mean of the two middle values), the mean over the 3 channels, / 0.6745 * 255.
///
/// Arithmetic: Float step by step, as numpy does on the float32 image (strength.js computes each diagonal in Double
/// and sums in Double, which differs from numpy by up to ~3e-6 at sigma 30). Memory: one Float per 2x2 block.
public func estimateSigma<S: TileSource>(_ img: S) -> Double {
    let h = img.height - img.height % 2
    let w = img.width - img.width % 2
    if h == 0 || w == 0 { return 0 }
    let n = (h / 2) * (w / 2)
    var diag = [Float](repeating: 0, count: n)
    var total: Float = 0
    for ch in 0..<3 {
        diag.withUnsafeMutableBufferPointer { diag in
            var k = 0
            for y in stride(from: 0, to: h, by: 2) {
                for x in stride(from: 0, to: w, by: 2) {
                    let a = img.readPixel(y, x, ch)
                    let b = img.readPixel(y, x + 1, ch)
                    let c = img.readPixel(y + 1, x, ch)
                    let d = img.readPixel(y + 1, x + 1, ch)
                    diag[k] = abs((a - b - c + d) / 2)
                    k += 1
                }
            }
        }
        diag.sort()
        total = total + (n % 2 == 1 ? diag[(n - 1) / 2] : (diag[n / 2 - 1] + diag[n / 2]) / 2)
    }
    return Double(total / 3 / Float(0.6745) * 255)
}

/// The curve's strength at `sigma`: piecewise linear between its points, constant beyond the ends (numpy.interp).
/// strength.js: strengthAt. A StrengthCurve is checked when made (non-empty, sigma increasing), so this cannot fail.
public func strengthAt(_ curve: StrengthCurve, _ sigma: Double) -> Double {
    let xs = curve.sigma
    let ys = curve.strength
    if sigma <= xs[0] { return ys[0] }
    let last = xs.count - 1
    if sigma >= xs[last] { return ys[last] }
    var i = 1
    while xs[i] < sigma { i += 1 }
    let t = (sigma - xs[i - 1]) / (xs[i] - xs[i - 1])
    return ys[i - 1] + t * (ys[i] - ys[i - 1])
}

/// Blend in place on finished output rows (strength.js: blendRows; strength.py: blend): `values` (HWC Floats, 3
/// channels, `rows` rows from photo row `y0`) becomes noisy + s * (values - noisy) in Float, noisy read from the
/// input image `img`. s >= 1 leaves them as they are.
public func blendRows<S: TileSource>(_ img: S, _ y0: Int, _ rows: Int, _ values: inout [Float], _ s: Double) {
    if s >= 1 { return }
    let sf = Float(s)
    values.withUnsafeMutableBufferPointer { values in
        for y in 0..<rows {
            for x in 0..<img.width {
                for ch in 0..<3 {
                    let q = (y * img.width + x) * 3 + ch
                    let noisy = img.readPixel(y0 + y, x, ch)
                    values[q] = noisy + sf * (values[q] - noisy)
                }
            }
        }
    }
}
