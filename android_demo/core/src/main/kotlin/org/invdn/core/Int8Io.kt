package org.invdn.core

/**
 * Runs an int8-I/O artifact on one tile of int8 codes (3 x tile x tile, in the artifact's layout) and returns the
 * output codes. The app implements it with LiteRT's `writeInt8` / `readInt8`; the tests replay a real artifact.
 */
interface Int8TileRunner {
    fun run(input: ByteArray): ByteArray
}

/**
 * The [TileRunner] of an int8-I/O artifact: quantizes the core's float tile with the input's scale and zero point
 * (code = round_half_even(v / scale) + zero point, clipped to int8, in float32 as the package's LiteRT runner does),
 * runs [codes], and dequantizes the output ((code - zero point) x scale in float32). Closing it closes [codes].
 */
class Int8IoRunner(artifact: Artifact, val codes: Int8TileRunner) : TileRunner, AutoCloseable {
    private val inScale: Float
    private val inZero: Int
    private val outScale: Float
    private val outZero: Int
    private val buffer = ByteArray(artifact.tileValues)

    init {
        if (!artifact.int8Io || !artifact.runnable) throw InvdnException("${artifact.file}: not an int8-I/O artifact (${artifact.problem ?: artifact.inputs[0].dtype})")
        inScale = artifact.inputs[0].scale!!.toFloat()
        inZero = artifact.inputs[0].zeroPoint!!
        outScale = artifact.outputs[0].scale!!.toFloat()
        outZero = artifact.outputs[0].zeroPoint!!
    }

    override fun run(input: FloatArray): FloatArray {
        if (input.size != buffer.size) throw InvdnException("tile has ${input.size} values, expected ${buffer.size}")
        for (i in input.indices) buffer[i] = quantize(input[i], inScale, inZero).toByte()
        val out = codes.run(buffer)
        return FloatArray(out.size) { dequantize(out[it], outScale, outZero) }
    }

    override fun close() {
        (codes as? AutoCloseable)?.close()
    }

    companion object {
        /** The int8 code of [v]: round half to even of v / scale (float32) plus the zero point, clipped to -128..127. */
        @JvmStatic
        fun quantize(v: Float, scale: Float, zero: Int): Int {
            val q = Math.rint((v / scale).toDouble()) + zero
            return if (q.isNaN()) zero else Math.max(-128.0, Math.min(127.0, q)).toInt()
        }

        /** The value of int8 code [q]: (q - zero point) x scale in float32. */
        @JvmStatic
        fun dequantize(q: Byte, scale: Float, zero: Int): Float = (q.toInt() - zero).toFloat() * scale
    }
}
