package org.invdn.core

import java.lang.management.ManagementFactory
import java.lang.management.MemoryType

/**
 * A child JVM for WholePhotoTest: a synthetic photo (pixels made per band, never held twice) through the whole-photo
 * path with an identity runner and the manifest's strength curve, every output pixel checked against the input,
 * under the -Xmx the test gives. Prints one line: `BIGPHOTO ok ...` (exit 0), `BIGPHOTO refused: <message>`
 * (exit 3: the memory budget check said no), anything else is a failure (an OutOfMemoryError included).
 *
 *     java -Xmx... -cp ... org.invdn.core.BigPhotoChild STORED_HEIGHT STORED_WIDTH ORIENTATION MANIFEST
 */
object BigPhotoChild {
    /** A stored pixel's level, cheap and position-dependent (so a misplaced row or column shows). */
    @JvmStatic
    fun level(y: Int, x: Int, c: Int): Int = ((x * 7 + y * 3 + c * 85) xor ((x * y) ushr 5)) and 0xFF

    @JvmStatic
    fun main(args: Array<String>) {
        val h = args[0].toInt()
        val w = args[1].toInt()
        val orientation = args[2].toInt()
        val base = Manifest.parse(java.io.File(args[3]).readText()).artifacts[0]
        val artifact = base.copy(tile = 256, tiling = base.tiling.copy(tile = 256, overlap = 32))
        val decoder = object : BandDecoder {
            override val storedHeight = h
            override val storedWidth = w
            override val orientation = orientation
            override fun decode(y0: Int, rows: Int, out: ByteArray, offset: Int) {
                var o = offset
                for (y in y0 until y0 + rows) for (x in 0 until w) for (c in 0 until 3) out[o++] = level(y, x, c).toByte()
            }
        }
        val identity = object : TileRunner {
            override fun run(input: FloatArray): FloatArray = input.copyOf()
        }
        var next = 0
        var wrong = 0L
        var bands = 0
        val encoder = object : BandEncoder {
            override fun rows(y0: Int, rows: Int, width: Int, rgb: ByteArray) {
                if (y0 != next) throw IllegalStateException("rows from $y0, expected $next")
                val uh = if (Orientation.swapsAxes(orientation)) w else h
                for (r in 0 until rows) for (x in 0 until width) {
                    val s = Orientation.storedIndex(orientation, h, w, y0 + r, x)
                    for (c in 0 until 3) if ((rgb[(r * width + x) * 3 + c].toInt() and 0xFF) != level(s / w, s % w, c)) wrong++
                }
                next = y0 + rows
                bands++
                if (next > uh) throw IllegalStateException("rows past the end")
            }
        }
        val started = System.nanoTime()
        try {
            val result = WholePhoto(artifact).run(decoder, identity, encoder)
            val seconds = (System.nanoTime() - started) / 1e9
            val peak = ManagementFactory.getMemoryPoolMXBeans().filter { it.type == MemoryType.HEAP }.map { it.peakUsage.used }.sum()
            val max = Runtime.getRuntime().maxMemory()
            println("BIGPHOTO ok pixels=${h.toLong() * w} rows=$next bands=$bands tiles=${result.tiles} wrong=$wrong sigma=${result.sigma} " +
                "strength=${result.strength} seconds=${"%.1f".format(seconds)} heap_peak_mb=${peak shr 20} heap_max_mb=${max shr 20}")
            System.exit(if (wrong == 0L && next == (if (Orientation.swapsAxes(orientation)) w else h)) 0 else 1)
        } catch (e: PhotoTooLargeException) {
            println("BIGPHOTO refused: ${e.message} (sample ${e.sampleSize})")
            System.exit(3)
        }
    }
}
