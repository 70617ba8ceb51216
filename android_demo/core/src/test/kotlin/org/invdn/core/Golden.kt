package org.invdn.core

import com.google.gson.JsonObject
import com.google.gson.JsonParser
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Base64

/** The golden files the Python package writes (golden/ at the repository root; -Dinvdn.golden=DIR overrides). */
object Golden {
    val dir: File by lazy {
        val given = System.getProperty("invdn.golden")
        if (given != null && given.isNotEmpty()) {
            File(given)
        } else {
            var d: File? = File(System.getProperty("user.dir")).absoluteFile
            while (d != null && !File(d, "golden/tiling/plans.json").isFile) d = d.parentFile
            if (d == null) throw IllegalStateException("no golden/ folder above ${System.getProperty("user.dir")}: pass -Dinvdn.golden=DIR")
            File(d, "golden")
        }
    }

    fun file(name: String): File = File(dir, name)

    fun json(name: String): JsonObject = JsonParser.parseString(file(name).readText()).asJsonObject

    /** Base64 of little-endian float32. */
    fun f32(text: String): FloatArray {
        val buffer = ByteBuffer.wrap(Base64.getDecoder().decode(text)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
        val out = FloatArray(buffer.remaining())
        buffer.get(out)
        return out
    }

    /** The float image [key] of a golden object with "height" and "width" (HWC, 3 channels). */
    fun image(o: JsonObject, key: String): FloatImage = FloatImage(o.get("height").asInt, o.get("width").asInt, f32(o.get(key).asString))

    /** Base64 of uint8, as ints 0-255. */
    fun u8(text: String): IntArray = Base64.getDecoder().decode(text).map { it.toInt() and 0xFF }.toIntArray()

    fun ints(o: JsonObject, key: String): IntArray = o.getAsJsonArray(key).map { it.asInt }.toIntArray()

    fun maxAbsDiff(a: FloatArray, b: FloatArray): Double {
        if (a.size != b.size) return Double.POSITIVE_INFINITY
        var m = 0.0
        for (i in a.indices) m = Math.max(m, Math.abs(a[i].toDouble() - b[i].toDouble()))
        return m
    }
}
