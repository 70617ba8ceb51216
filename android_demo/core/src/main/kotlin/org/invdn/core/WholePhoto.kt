package org.invdn.core

// The whole-photo path for photos of any size (phones shoot 50-200 MP): the stored pixels are decoded band by band
// into one 8-bit RGB copy (3 bytes a pixel: the only full-size buffer), the tiler reads it upright through the EXIF
// orientation, the streaming blend hands out finished rows, and they go to the encoder band by band as 8-bit RGB.
// Before anything is allocated, the memory budget is checked: a photo that will not fit is one clear
// PhotoTooLargeException that names a downscale that would fit, never an OutOfMemoryError half way.

/** Decodes a photo's stored pixels in bands (the app: BitmapRegionDecoder, decoded to sRGB). */
interface BandDecoder {
    val storedHeight: Int
    val storedWidth: Int

    /** EXIF orientation 1-8 (0: undefined, as 1) of the stored pixels. */
    val orientation: Int

    /** Stored rows [y0, y0 + rows) as RGB bytes (3 per pixel, row-major) into [out] from byte [offset]. */
    fun decode(y0: Int, rows: Int, out: ByteArray, offset: Int)
}

/** Receives the denoised photo upright, band by band, top to bottom (the app: the bitmap it then saves). */
interface BandEncoder {
    /** Upright rows [y0, y0 + rows) of the [width]-wide result: the first rows x width x 3 bytes of [rgb] (RGB). */
    fun rows(y0: Int, rows: Int, width: Int, rgb: ByteArray)
}

/** The heap this process may still use: [maxBytes] (-Xmx, or Android's heap limit) less what is [usedBytes]. */
data class MemoryBudget(val maxBytes: Long, val usedBytes: Long) {
    val freeBytes: Long
        get() = maxBytes - usedBytes

    companion object {
        /** This JVM's budget now (Runtime.maxMemory less the heap in use). */
        @JvmStatic
        fun ofRuntime(): MemoryBudget {
            val r = Runtime.getRuntime()
            return MemoryBudget(r.maxMemory(), r.totalMemory() - r.freeMemory())
        }
    }
}

/** A photo that does not fit the memory budget; [sampleSize] is the smallest downscale (1/2, 1/4...) that would. */
class PhotoTooLargeException(message: String, val sampleSize: Int) : InvdnException(message)

object PhotoMemory {
    /** Headroom for everything not counted below (classes, the app's own objects, heap fragmentation). */
    const val RESERVE_BYTES = 16L shl 20
    const val MB = 1L shl 20

    /** The one 8-bit copy of the photo: 3 bytes a pixel. */
    @JvmStatic
    fun photoBytes(height: Int, width: Int): Long = height.toLong() * width * 3

    /**
     * The working set of the streaming path for an upright [height] x [width] photo through [artifact]: the blend's
     * band (tile rows of float RGB and weights over the padded width), the rows it hands out (at most one tile of
     * rows, float and 8-bit), two tiles in and out, and [RESERVE_BYTES].
     */
    @JvmStatic
    fun workingBytes(artifact: Artifact, height: Int, width: Int): Long {
        val t = artifact.tiling.tile.toLong()
        val pw = Math.max(width, artifact.tiling.tile).toLong()
        val band = t * pw * 3 * 4 + t * pw * 4
        val rows = t * width * 3 * 4 + t * width * 3
        val tiles = 4L * artifact.tileValues * 4
        return band + rows + tiles + RESERVE_BYTES
    }

    /** Bytes the whole-photo path needs for a stored [storedHeight] x [storedWidth] photo (orientation aside). */
    @JvmStatic
    fun needBytes(artifact: Artifact, storedHeight: Int, storedWidth: Int): Long =
        photoBytes(storedHeight, storedWidth) + workingBytes(artifact, Math.max(storedHeight, storedWidth), Math.max(storedHeight, storedWidth))

    /**
     * Check that the photo fits [budget]; else a [PhotoTooLargeException] with what it needs, what is free and the
     * downscale that would fit (the app offers it). Returns the bytes needed.
     */
    @JvmStatic
    fun check(artifact: Artifact, storedHeight: Int, storedWidth: Int, budget: MemoryBudget): Long {
        val need = needBytes(artifact, storedHeight, storedWidth)
        if (need <= budget.freeBytes) return need
        var sample = 2
        while (sample < 64 && needBytes(artifact, (storedHeight + sample - 1) / sample, (storedWidth + sample - 1) / sample) > budget.freeBytes) sample *= 2
        val h = (storedHeight + sample - 1) / sample
        val w = (storedWidth + sample - 1) / sample
        throw PhotoTooLargeException(
            "a ${storedWidth}x$storedHeight photo needs ${need / MB} MB of memory, ${Math.max(0L, budget.freeBytes) / MB} MB are free: " +
                "denoise it at 1/$sample size (${w}x$h) instead", sample
        )
    }
}

/**
 * Denoises a whole photo from a [BandDecoder] to a [BandEncoder] through [artifact] (see the file's header). [bandRows]:
 * rows decoded per call.
 */
class WholePhoto @JvmOverloads constructor(val artifact: Artifact, private val bandRows: Int = 256) {
    private val denoiser = Denoiser(artifact)

    /**
     * Run it: the budget check first ([PhotoTooLargeException]), then decode, denoise (strength as in
     * [Denoiser.run]) and encode. [onTile] and [isCancelled] as in [Denoiser.run].
     */
    @JvmOverloads
    fun run(
        decoder: BandDecoder,
        runner: TileRunner,
        encoder: BandEncoder,
        fixedStrength: Double? = null,
        budget: MemoryBudget = MemoryBudget.ofRuntime(),
        onTile: (Int, Int) -> Unit = { _, _ -> },
        isCancelled: () -> Boolean = { false }
    ): DenoiseResult {
        val h = decoder.storedHeight
        val w = decoder.storedWidth
        if (h < 1 || w < 1) throw InvdnException("the photo is empty (${w}x$h)")
        PhotoMemory.check(artifact, h, w, budget)
        val data = ByteArray(h * w * 3)
        var y = 0
        while (y < h) {
            if (isCancelled()) throw CancelledException()
            val rows = Math.min(bandRows, h - y)
            decoder.decode(y, rows, data, y * w * 3)
            y += rows
        }
        val image = Rgba8Image(data, h, w, decoder.orientation, 3)
        var band = ByteArray(0)
        return denoiser.run(image, runner, fixedStrength, onRows = { y0, rows, values ->
            val n = rows * image.width * 3
            if (band.size < n) band = ByteArray(n)
            for (i in 0 until n) band[i] = Pixels.toByte(values[i]).toByte()
            encoder.rows(y0, rows, image.width, band)
        }, onTile = onTile, isCancelled = isCancelled)
    }
}
