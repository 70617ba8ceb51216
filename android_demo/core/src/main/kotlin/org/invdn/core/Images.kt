package org.invdn.core

// Pixels in and out: the upright RGB float view the tiler reads (values in [0, 1], as invdn_mobile/imageio.py reads
// an 8-bit photo: v / 255 in float32), EXIF orientation applied on the fly (no rotated copy), the artifact's tile
// layout, and the 8-bit encode of the result (imageio.encode_png: round half to even of clip(v) * 255).

/** An upright 3-channel image the tiler and the strength estimate read; [value] is channel [c] at ([y], [x]). */
interface PixelSource {
    val height: Int
    val width: Int
    fun value(y: Int, x: Int, c: Int): Float
}

/** A float image, HWC (3 channels) row-major. */
class FloatImage(override val height: Int, override val width: Int, val data: FloatArray) : PixelSource {
    init {
        if (height < 1 || width < 1 || data.size != height * width * 3) {
            throw InvdnException("a ${height}x$width RGB image needs ${height.toLong() * width * 3} values, got ${data.size}")
        }
    }

    override fun value(y: Int, x: Int, c: Int): Float = data[(y * width + x) * 3 + c]
}

/** EXIF orientation (1-8; 0, "undefined", is 1): where an upright pixel is in the stored pixels. */
object Orientation {
    /** Whether the upright photo is the stored one with width and height swapped (orientations 5-8). */
    @JvmStatic
    fun swapsAxes(orientation: Int): Boolean = orientation in 5..8

    @JvmStatic
    fun check(orientation: Int): Int {
        if (orientation !in 0..8) throw InvdnException("EXIF orientation must be 0-8, got $orientation")
        return if (orientation == 0) 1 else orientation
    }

    /** Stored (row, column) of upright pixel ([y], [x]), as one index `row * storedWidth + column`. */
    @JvmStatic
    fun storedIndex(orientation: Int, storedHeight: Int, storedWidth: Int, y: Int, x: Int): Int {
        val hs = storedHeight - 1
        val ws = storedWidth - 1
        return when (orientation) {
            2 -> y * storedWidth + (ws - x) // mirror left-right
            3 -> (hs - y) * storedWidth + (ws - x) // rotate 180
            4 -> (hs - y) * storedWidth + x // mirror top-bottom
            5 -> x * storedWidth + y // transpose
            6 -> (hs - x) * storedWidth + y // rotate 90 clockwise
            7 -> (hs - x) * storedWidth + (ws - y) // transverse
            8 -> x * storedWidth + (ws - y) // rotate 90 counter-clockwise
            else -> y * storedWidth + x
        }
    }
}

/**
 * An 8-bit photo as decoded: RGBA bytes (4 per pixel, row-major, as Android's `Bitmap.copyPixelsToBuffer` writes an
 * ARGB_8888 bitmap; alpha ignored) or RGB bytes ([bytesPerPixel] 3: the whole-photo path's one copy) of the stored
 * [storedHeight] x [storedWidth] pixels, seen upright through its EXIF [orientation].
 */
class Rgba8Image @JvmOverloads constructor(
    val data: ByteArray,
    val storedHeight: Int,
    val storedWidth: Int,
    orientation: Int = 1,
    val bytesPerPixel: Int = 4
) : PixelSource {
    val orientation: Int = Orientation.check(orientation)
    override val height: Int = if (Orientation.swapsAxes(this.orientation)) storedWidth else storedHeight
    override val width: Int = if (Orientation.swapsAxes(this.orientation)) storedHeight else storedWidth

    init {
        if (bytesPerPixel != 3 && bytesPerPixel != 4) throw InvdnException("8-bit images have 3 or 4 bytes per pixel, not $bytesPerPixel")
        if (storedHeight < 1 || storedWidth < 1 || data.size.toLong() != storedHeight.toLong() * storedWidth * bytesPerPixel) {
            throw InvdnException("a ${storedHeight}x$storedWidth ${if (bytesPerPixel == 4) "RGBA" else "RGB"} image needs ${storedHeight.toLong() * storedWidth * bytesPerPixel} bytes, got ${data.size}")
        }
    }

    override fun value(y: Int, x: Int, c: Int): Float =
        LEVELS[data[Orientation.storedIndex(orientation, storedHeight, storedWidth, y, x) * bytesPerPixel + c].toInt() and 0xFF]

    /** The 8-bit level (0-255) of channel [c] of upright pixel ([y], [x]). */
    fun level(y: Int, x: Int, c: Int): Int =
        data[Orientation.storedIndex(orientation, storedHeight, storedWidth, y, x) * bytesPerPixel + c].toInt() and 0xFF

    /** The upright pixels as RGBA bytes (alpha kept): for showing the photo as it is processed. */
    fun uprightRgba(): ByteArray {
        if (bytesPerPixel != 4) throw InvdnException("uprightRgba needs an RGBA image")
        if (orientation == 1) return data.copyOf()
        val out = ByteArray(data.size)
        var o = 0
        for (y in 0 until height) {
            for (x in 0 until width) {
                val s = Orientation.storedIndex(orientation, storedHeight, storedWidth, y, x) * 4
                System.arraycopy(data, s, out, o, 4)
                o += 4
            }
        }
        return out
    }

    companion object {
        /**
         * Upright RGBA pixels ([height] x [width]) laid out as the stored pixels of a photo with EXIF [orientation]
         * (the inverse of [uprightRgba]): saved with the same orientation tag, they show as the original does.
         */
        @JvmStatic
        fun storedRgba(upright: ByteArray, height: Int, width: Int, orientation: Int): ByteArray {
            val o = Orientation.check(orientation)
            if (upright.size.toLong() != height.toLong() * width * 4) throw InvdnException("a ${height}x$width RGBA image needs ${height.toLong() * width * 4} bytes, got ${upright.size}")
            if (o == 1) return upright.copyOf()
            val storedHeight = if (Orientation.swapsAxes(o)) width else height
            val storedWidth = if (Orientation.swapsAxes(o)) height else width
            val out = ByteArray(upright.size)
            var u = 0
            for (y in 0 until height) {
                for (x in 0 until width) {
                    System.arraycopy(upright, u, out, Orientation.storedIndex(o, storedHeight, storedWidth, y, x) * 4, 4)
                    u += 4
                }
            }
            return out
        }

        /** float32(v) / float32(255), as numpy reads an 8-bit level. */
        @JvmField
        val LEVELS = FloatArray(256) { it.toFloat() / 255f }
    }
}

object Pixels {
    /** One tile of the mirror-padded photo at origin ([y0], [x0]), into [out] in [layout] (3 channels). */
    @JvmStatic
    fun extractTile(src: PixelSource, tile: Int, y0: Int, x0: Int, layout: Layout, out: FloatArray) {
        if (out.size != 3 * tile * tile) throw InvdnException("tile buffer has ${out.size} values, expected ${3 * tile * tile}")
        for (i in 0 until tile) {
            val sy = Tiling.mirrorIndex(y0 + i, src.height)
            for (j in 0 until tile) {
                val sx = Tiling.mirrorIndex(x0 + j, src.width)
                for (c in 0 until 3) out[layout.index(tile, 3, i, j, c)] = src.value(sy, sx, c)
            }
        }
    }

    /** A float in [0, 1] as an 8-bit level: round half to even of clip(v) * 255 in float32; NaN is 0. */
    @JvmStatic
    fun toByte(v: Float): Int {
        if (v.isNaN()) return 0
        val c = if (v < 0f) 0f else if (v > 1f) 1f else v
        return Math.rint((c * 255f).toDouble()).toInt()
    }

    /** Rows of float RGB ([rows] x [width] x 3) as opaque RGBA bytes into [out] from byte [offset]. */
    @JvmStatic
    fun toRgba(values: FloatArray, rows: Int, width: Int, out: ByteArray, offset: Int) {
        for (p in 0 until rows * width) {
            val o = offset + p * 4
            out[o] = toByte(values[p * 3]).toByte()
            out[o + 1] = toByte(values[p * 3 + 1]).toByte()
            out[o + 2] = toByte(values[p * 3 + 2]).toByte()
            out[o + 3] = 255.toByte()
        }
    }
}
