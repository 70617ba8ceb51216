package org.invdn.core

// Port of invdn_mobile/tiling.py (plan, windows, mirror padding, feathered blend), function by function, tested
// against golden/tiling/. The float arithmetic is the package's: origins in double with round-half-to-even, 1-D
// windows in double, their product rounded to float, the blend accumulated in float (the JVM's float arithmetic is
// IEEE binary32, as numpy's float32 arrays are). The blend streams: one band of tile rows at a time.

/** Tiles of [tile] x [tile] over a [height] x [width] photo: origins [ys] (rows) x [xs] (columns), row-major. */
class TilePlan(val height: Int, val width: Int, val tile: Int, val overlap: Int, val ys: IntArray, val xs: IntArray) {
    val paddedHeight: Int
        get() = Math.max(height, tile)
    val paddedWidth: Int
        get() = Math.max(width, tile)

    /** Number of tiles. */
    val size: Int
        get() = ys.size * xs.size

    /** Origin row of tile [k] (row-major order: y outer, x inner). */
    fun y(k: Int): Int = ys[k / xs.size]

    /** Origin column of tile [k]. */
    fun x(k: Int): Int = xs[k % xs.size]
}

object Tiling {
    const val MULTIPLE = 4

    /** Python's round() of a double: half to even. */
    @JvmStatic
    fun roundHalfEven(v: Double): Int = Math.rint(v).toInt()

    // _axis_origins
    @JvmStatic
    fun axisOrigins(length: Int, tile: Int, overlap: Int): IntArray {
        if (length <= tile) return intArrayOf(0)
        val n = Math.ceil((length - overlap).toDouble() / (tile - overlap)).toInt()
        return IntArray(n) { i -> roundHalfEven((i.toLong() * (length - tile)).toDouble() / (n - 1)) }
    }

    /** Tile plan for a [height] x [width] photo and square [tile] (a multiple of [multiple]). */
    @JvmStatic
    @JvmOverloads
    fun plan(height: Int, width: Int, tile: Int, overlap: Int, multiple: Int = MULTIPLE): TilePlan {
        if (height < 1 || width < 1) throw InvdnException("cannot tile an empty ${height}x$width image")
        if (tile < multiple || tile % multiple != 0) throw InvdnException("tile must be a positive multiple of $multiple, got $tile")
        if (overlap < 0 || overlap >= tile) throw InvdnException("overlap must be in [0, tile), got $overlap for tile $tile")
        val ph = Math.max(height, tile)
        val pw = Math.max(width, tile)
        return TilePlan(height, width, tile, overlap, axisOrigins(ph, tile, overlap), axisOrigins(pw, tile, overlap))
    }

    // _ramp: ramps over `before` pixels at the start and `after` at the end, 1 elsewhere.
    private fun ramp(tile: Int, before: Int, after: Int): DoubleArray = DoubleArray(tile) { d ->
        var w = 1.0
        if (before > 0) w = Math.min(w, (d + 0.5) / before)
        if (after > 0) w = Math.min(w, (tile - 1 - d + 0.5) / after)
        w
    }

    // axis_windows: the 1-D window of each tile along one axis.
    @JvmStatic
    fun axisWindows(origins: IntArray, tile: Int): Array<DoubleArray> = Array(origins.size) { i ->
        val before = if (i > 0) origins[i - 1] + tile - origins[i] else 0
        val after = if (i + 1 < origins.size) origins[i] + tile - origins[i + 1] else 0
        ramp(tile, before, after)
    }

    /** numpy.pad(mode="symmetric") source index of padded index [i] on an axis of [n] pixels (any pad width). */
    @JvmStatic
    fun mirrorIndex(i: Int, n: Int): Int {
        if (i < n) return i
        val k = i % (2 * n)
        return if (k < n) k else 2 * n - 1 - k
    }
}

/**
 * The streaming form of run_tiled's blend. Tile outputs are added in the plan's order ([add]); each photo row that
 * no later tile touches is finished (acc / weight, cropped to the photo's width) and handed to [onRows] as
 * `(y0, rows, values)`, values HWC float of rows x width x channels. Memory: one band of `tile` padded rows
 * instead of the whole photo. Arithmetic and order per pixel are run_tiled's.
 */
class Blender(
    private val plan: TilePlan,
    private val channels: Int,
    private val layout: Layout,
    private val onRows: (Int, Int, FloatArray) -> Unit
) {
    private val wy = Tiling.axisWindows(plan.ys, plan.tile)
    private val wx = Tiling.axisWindows(plan.xs, plan.tile)
    private val pw = plan.paddedWidth
    private val acc = FloatArray(plan.tile * pw * channels)
    private val weight = FloatArray(plan.tile * pw)
    private var bandY = 0 // padded row of band row 0
    private var next = 0 // the tile expected next
    private var done = 0 // photo rows handed out

    /** Add tile [k]'s output ([out]: 1 x tile x tile x channels in [layout]); k = 0, 1, ... in order. */
    fun add(k: Int, out: FloatArray) {
        if (k != next) throw InvdnException("tiles must be added in order: got $k, expected $next")
        val t = plan.tile
        if (out.size != channels * t * t) throw InvdnException("tile output has ${out.size} values, expected ${channels * t * t}")
        val nx = plan.xs.size
        val y0 = plan.y(k)
        val x0 = plan.x(k)
        if (k % nx == 0 && y0 != bandY) shift(y0)
        val a = wy[k / nx]
        val b = wx[k % nx]
        val by = y0 - bandY
        for (i in 0 until t) {
            val base = (by + i) * pw + x0
            for (j in 0 until t) {
                val w = (a[i] * b[j]).toFloat() // float64 product rounded to float32
                val q = base + j
                for (c in 0 until channels) {
                    acc[q * channels + c] += out[layout.index(t, channels, i, j, c)] * w
                }
                weight[q] += w
            }
        }
        next = k + 1
        if (next == plan.size) flush(plan.height)
    }

    // The next tile row starts at padded row y0: rows above it are final; move the band down to start at y0.
    private fun shift(y0: Int) {
        flush(Math.min(y0, plan.height))
        val drop = y0 - bandY
        val keep = plan.tile - drop // band rows still open
        if (keep > 0) {
            System.arraycopy(acc, drop * pw * channels, acc, 0, keep * pw * channels)
            System.arraycopy(weight, drop * pw, weight, 0, keep * pw)
        }
        val from = Math.max(keep, 0)
        java.util.Arrays.fill(acc, from * pw * channels, acc.size, 0f)
        java.util.Arrays.fill(weight, from * pw, weight.size, 0f)
        bandY = y0
    }

    // Hand the finished photo rows [done, until) to onRows.
    private fun flush(until: Int) {
        if (until <= done) return
        val width = plan.width
        val rows = until - done
        val values = FloatArray(rows * width * channels)
        for (r in 0 until rows) {
            val q0 = (done + r - bandY) * pw
            for (x in 0 until width) {
                val q = q0 + x
                for (c in 0 until channels) values[(r * width + x) * channels + c] = acc[q * channels + c] / weight[q]
            }
        }
        onRows(done, rows, values)
        done = until
    }
}
