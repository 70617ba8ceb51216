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

    /** The real export manifests committed as test fixtures (core/src/test/resources/manifests/<target>.json). */
    fun manifestFile(target: String): File {
        val given = System.getProperty("invdn.fixtures")
        val folder = if (given != null && given.isNotEmpty()) File(given) else File(dir.parentFile, "android_demo/core/src/test/resources")
        return File(folder, "manifests/$target.json")
    }

    fun manifest(target: String): Manifest = manifestFile(target).let { Manifest.parse(it.readText(), it.path) }

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

    /** The stored RGB bytes of a replay document's photo (golden/replay/ and golden/replay-int8/). */
    fun storedRgb(doc: JsonObject): ByteArray {
        val p = doc.getAsJsonObject("photo")
        return Base64.getDecoder().decode(p.get("rgb8").asString)
    }

    /** A replay document's photo as decoded: RGBA bytes of its stored pixels with its EXIF orientation. */
    fun replayPhoto(doc: JsonObject): Rgba8Image {
        val p = doc.getAsJsonObject("photo")
        val h = p.get("stored_height").asInt
        val w = p.get("stored_width").asInt
        val rgb = storedRgb(doc)
        val rgba = ByteArray(h * w * 4)
        for (i in 0 until h * w) {
            for (c in 0 until 3) rgba[i * 4 + c] = rgb[i * 3 + c]
            rgba[i * 4 + 3] = 255.toByte()
        }
        return Rgba8Image(rgba, h, w, p.get("orientation").asInt)
    }

    /** The largest difference in 8-bit levels between RGBA [rgba] and the RGB levels [rgb]. */
    fun maxLevelDiff(rgba: ByteArray, rgb: IntArray): Int {
        var levels = 0
        for (i in 0 until rgb.size / 3) {
            for (c in 0 until 3) levels = Math.max(levels, Math.abs((rgba[i * 4 + c].toInt() and 0xFF) - rgb[i * 3 + c]))
        }
        return levels
    }

    fun maxAbsDiff(a: FloatArray, b: FloatArray): Double {
        if (a.size != b.size) return Double.POSITIVE_INFINITY
        var m = 0.0
        for (i in a.indices) m = Math.max(m, Math.abs(a[i].toDouble() - b[i].toDouble()))
        return m
    }
}
