package org.invdn.core

// Noise-adaptive strength: the port of invdn_mobile/strength.py, tested against golden/tiling/strength.json.
// output = noisy + s * (model - noisy), s read off the artifact's calibrated curve (manifest entry "strength") at the
// photo's estimated noise sigma: the model alone loses detail on photos with little noise.

/** Piecewise-linear strength of the estimated sigma, constant beyond the end knots (numpy.interp). */
data class StrengthCurve(val sigma: List<Double>, val strength: List<Double>, val estimator: String = Strength.ESTIMATOR) {
    init {
        if (sigma.isEmpty() || sigma.size != strength.size) throw InvdnException("a strength curve needs as many strengths as sigmas")
    }

    /** The strength at [s]: numpy.interp(s, sigma, strength). */
    fun at(s: Double): Double {
        val last = sigma.size - 1
        if (s <= sigma[0]) return strength[0]
        if (s >= sigma[last]) return strength[last]
        var j = 0
        while (sigma[j + 1] <= s) j++ // sigma[j] <= s < sigma[j + 1]
        if (s == sigma[j]) return strength[j]
        val slope = (strength[j + 1] - strength[j]) / (sigma[j + 1] - sigma[j])
        return slope * (s - sigma[j]) + strength[j]
    }
}

object Strength {
    const val ESTIMATOR = "donoho-haar-diagonal-mad-v1"

    /**
     * Donoho's estimate of the noise sigma in 8-bit levels, as estimate_sigma computes it in float32: per channel the
     * median of |(a - b - c + d) / 2| over the 2x2 blocks (an odd last row or column dropped; an even count takes the
     * mean of the two middle values), the mean over the channels, / 0.6745 * 255. Memory: one float per 2x2 block.
     */
    @JvmStatic
    fun estimateSigma(src: PixelSource): Float {
        if (src is Rgba8Image) return estimateSigma8(src)
        val h = src.height - src.height % 2
        val w = src.width - src.width % 2
        if (h == 0 || w == 0) return 0f
        val n = (h / 2) * (w / 2)
        val diag = FloatArray(n)
        var total = 0f
        for (c in 0 until 3) {
            var k = 0
            var y = 0
            while (y < h) {
                var x = 0
                while (x < w) {
                    val d = (src.value(y, x, c) - src.value(y, x + 1, c) - src.value(y + 1, x, c) + src.value(y + 1, x + 1, c)) / 2f
                    diag[k++] = Math.abs(d)
                    x += 2
                }
                y += 2
            }
            java.util.Arrays.sort(diag)
            total += if (n % 2 == 1) diag[(n - 1) / 2] else (diag[n / 2 - 1] + diag[n / 2]) / 2f
        }
        return total / 3f / 0.6745f * 255f
    }

    /**
     * [estimateSigma] of an 8-bit photo in constant memory, equal to the bit: the same float32 arithmetic per 2x2
     * block, but the |d| values are counted by their exact float value (an 8-bit photo has only a few thousand of
     * them) instead of kept in an array of one float per block (h x w bytes: 50 MB for a 50 MP photo), and the
     * median is read off the counts.
     */
    @JvmStatic
    fun estimateSigma8(src: Rgba8Image): Float {
        val h = src.height - src.height % 2
        val w = src.width - src.width % 2
        if (h == 0 || w == 0) return 0f
        val n = (h.toLong() / 2) * (w / 2)
        val levels = Rgba8Image.LEVELS
        var total = 0f
        for (c in 0 until 3) {
            val counts = FloatCounts()
            var y = 0
            while (y < h) {
                var x = 0
                while (x < w) {
                    val d = (levels[src.level(y, x, c)] - levels[src.level(y, x + 1, c)] - levels[src.level(y + 1, x, c)] + levels[src.level(y + 1, x + 1, c)]) / 2f
                    counts.add(Math.abs(d))
                    x += 2
                }
                y += 2
            }
            total += if (n % 2 == 1L) counts.nth((n - 1) / 2) else (counts.nth(n / 2 - 1) + counts.nth(n / 2)) / 2f
        }
        return total / 3f / 0.6745f * 255f
    }

    /**
     * blend on finished output rows, in place: [values] ([rows] x width x 3 from photo row [y0]) become
     * noisy + s * (values - noisy) in float32, noisy read from [src]. A strength of 1 or more leaves them as they are.
     */
    @JvmStatic
    fun blendRows(src: PixelSource, y0: Int, rows: Int, values: FloatArray, s: Double) {
        if (s >= 1.0) return
        val sf = s.toFloat()
        val width = src.width
        for (y in 0 until rows) {
            for (x in 0 until width) {
                for (c in 0 until 3) {
                    val q = (y * width + x) * 3 + c
                    val noisy = src.value(y0 + y, x, c)
                    values[q] = noisy + sf * (values[q] - noisy)
                }
            }
        }
    }
}

/** Counts of non-negative float values by exact value (open addressing on the float's bits); [nth] of the sorted values. */
internal class FloatCounts {
    private var keys = IntArray(1 shl 12) { EMPTY }
    private var counts = LongArray(1 shl 12)
    private var size = 0

    fun add(v: Float) {
        val bits = java.lang.Float.floatToRawIntBits(v)
        if ((size + 1) * 2 > keys.size) grow()
        var i = slot(bits, keys.size)
        while (keys[i] != EMPTY && keys[i] != bits) i = (i + 1) and (keys.size - 1)
        if (keys[i] == EMPTY) {
            keys[i] = bits
            size++
        }
        counts[i]++
    }

    /** The [k]-th (from 0) of the counted values in ascending order. */
    fun nth(k: Long): Float {
        val order = keys.indices.filter { keys[it] != EMPTY }.sortedBy { java.lang.Float.intBitsToFloat(keys[it]) }
        var seen = 0L
        for (i in order) {
            seen += counts[i]
            if (k < seen) return java.lang.Float.intBitsToFloat(keys[i])
        }
        throw IllegalArgumentException("only $seen values counted, asked for #$k")
    }

    private fun grow() {
        val oldKeys = keys
        val oldCounts = counts
        keys = IntArray(oldKeys.size * 2) { EMPTY }
        counts = LongArray(oldKeys.size * 2)
        for (j in oldKeys.indices) {
            if (oldKeys[j] == EMPTY) continue
            var i = slot(oldKeys[j], keys.size)
            while (keys[i] != EMPTY) i = (i + 1) and (keys.size - 1)
            keys[i] = oldKeys[j]
            counts[i] = oldCounts[j]
        }
    }

    private fun slot(bits: Int, n: Int): Int = (bits * -1640531527 ushr 7) and (n - 1)

    companion object {
        private const val EMPTY = -1 // no |d| is a negative NaN
    }
}
