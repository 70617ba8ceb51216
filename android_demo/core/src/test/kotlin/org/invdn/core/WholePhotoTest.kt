package org.invdn.core

import java.io.File
import java.util.Random
import java.util.concurrent.TimeUnit
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** The whole-photo path: bands in, streaming blend, bands out, and the memory budget that guards it. */
class WholePhotoTest {
    private val doc = Golden.json("replay/replay.json")
    private val artifact = Manifest.parse(Golden.file("replay/manifest.json").readText()).artifacts[0]

    /** The replay photo's stored RGB, handed out [decode] call by call. */
    private class RgbDecoder(val rgb: ByteArray, override val storedHeight: Int, override val storedWidth: Int, override val orientation: Int) : BandDecoder {
        val calls = ArrayList<Int>()
        override fun decode(y0: Int, rows: Int, out: ByteArray, offset: Int) {
            calls.add(rows)
            System.arraycopy(rgb, y0 * storedWidth * 3, out, offset, rows * storedWidth * 3)
        }
    }

    @Test
    fun theReplayPhotoThroughBandsIsThePackagesPhoto() {
        val p = doc.getAsJsonObject("photo")
        val decoder = RgbDecoder(Golden.storedRgb(doc), p.get("stored_height").asInt, p.get("stored_width").asInt, p.get("orientation").asInt)
        val outputs = doc.getAsJsonArray("cases").map { Golden.f32(it.asJsonObject.get("output").asString) }.iterator()
        val runner = object : TileRunner {
            override fun run(input: FloatArray): FloatArray = outputs.next()
        }
        val height = p.get("height").asInt
        val width = p.get("width").asInt
        val upright = ByteArray(height * width * 4)
        var next = 0
        var bands = 0
        val result = WholePhoto(artifact, bandRows = 40).run(decoder, runner, object : BandEncoder {
            override fun rows(y0: Int, rows: Int, width: Int, rgb: ByteArray) {
                assertEquals(next, y0)
                for (i in 0 until rows * width) System.arraycopy(rgb, i * 3, upright, (y0 * width + i) * 4, 3)
                next = y0 + rows
                bands++
            }
        })
        assertEquals(listOf(40, 40, 40, 27), decoder.calls) // 147 stored rows in bands of 40
        assertEquals(height, next)
        assertTrue(bands > 1)
        assertFalse(outputs.hasNext())
        assertEquals(doc.get("sigma").asDouble, result.sigma.toDouble(), 3e-6) // the counted estimate, on 8-bit pixels
        val levels = Golden.maxLevelDiff(upright, Golden.u8(doc.getAsJsonObject("result").get("rgb8").asString))
        assertTrue("8-bit result differs by $levels levels", levels <= 1)
    }

    @Test
    fun theCountedSigmaOfAn8BitPhotoIsTheSortedOneToTheBit() {
        val random = Random(7)
        for ((h, w, o) in listOf(Triple(1, 9, 1), Triple(2, 3, 6), Triple(37, 53, 1), Triple(64, 64, 8), Triple(101, 147, 3), Triple(200, 120, 5))) {
            val rgba = ByteArray(h * w * 4)
            val noise = 3 + random.nextInt(40)
            for (i in 0 until h * w * 4) rgba[i] = Math.max(0, Math.min(255, 128 + (i % 97) - 48 + (random.nextGaussian() * noise).toInt())).toByte()
            val image = Rgba8Image(rgba, h, w, o)
            val copy = FloatArray(image.height * image.width * 3)
            for (y in 0 until image.height) for (x in 0 until image.width) for (c in 0 until 3) copy[(y * image.width + x) * 3 + c] = image.value(y, x, c)
            val sorted = Strength.estimateSigma(FloatImage(image.height, image.width, copy)) // one float per block, sorted
            assertEquals("${h}x$w orientation $o", sorted, Strength.estimateSigma8(image), 0f)
        }
    }

    @Test
    fun aHundredMegapixelPhotoIsBudgetedAtOneCopyPlus128MbAndTooLittleMemoryNamesADownscale() {
        val a256 = artifact.copy(tile = 256, tiling = artifact.tiling.copy(tile = 256, overlap = 32))
        val h = 8160
        val w = 12240
        val need = PhotoMemory.needBytes(a256, h, w)
        assertTrue("needs ${need shr 20} MB", need <= PhotoMemory.photoBytes(h, w) + (128L shl 20))
        println("BUDGET 12240x8160 needs ${need shr 20} MB (photo ${PhotoMemory.photoBytes(h, w) shr 20} MB)")
        assertEquals(need, PhotoMemory.check(a256, h, w, MemoryBudget(need + 1000, 1000)))
        try {
            PhotoMemory.check(a256, h, w, MemoryBudget(256L shl 20, 50L shl 20)) // a 256 MB app heap, 50 MB in use
            fail("a 100 MP photo fitted in 206 MB")
        } catch (e: PhotoTooLargeException) {
            assertEquals(2, e.sampleSize)
            assertTrue(PhotoMemory.needBytes(a256, h / 2, w / 2) <= (206L shl 20))
            assertTrue(e.message!!, e.message!!.startsWith("a 12240x8160 photo needs ${need shr 20} MB of memory, 206 MB are free: denoise it at 1/2 size (6120x4080)"))
        }
    }

    private fun child(heapBytes: Long): Pair<Int, String> {
        val java = File(System.getProperty("java.home"), "bin/java").path
        val cmd = listOf(
            java, "-Xmx${(heapBytes + 1023) / 1024}k", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
            "org.invdn.core.BigPhotoChild", "$H", "$W", "3", Golden.file("replay/manifest.json").path
        )
        val proc = ProcessBuilder(cmd).redirectErrorStream(true).start()
        val text = proc.inputStream.bufferedReader().readText()
        if (!proc.waitFor(300, TimeUnit.SECONDS)) {
            proc.destroyForcibly()
            fail("the child JVM ran over 300 s")
        }
        println(text.trim())
        return proc.exitValue() to text
    }

    @Test
    fun aFiftyMegapixelPhotoDenoisesInOne8BitCopyPlus128Mb() {
        val (rc, text) = child(PhotoMemory.photoBytes(H, W) + (128L shl 20))
        assertEquals(text, 0, rc)
        assertTrue(text, text.contains("BIGPHOTO ok") && text.contains(" wrong=0 ") && text.contains("rows=$H "))
    }

    @Test
    fun underTooSmallAHeapItFailsWithTheBudgetMessageNotAnOutOfMemoryError() {
        val (rc, text) = child(PhotoMemory.photoBytes(H, W) + (40L shl 20))
        assertEquals(text, 3, rc)
        assertTrue(text, text.contains("BIGPHOTO refused: a ${W}x$H photo needs") && text.contains("denoise it at 1/2 size"))
        assertFalse(text, text.contains("OutOfMemoryError"))
    }

    companion object {
        const val H = 5776 // 5776 x 8660 = 50.0 MP
        const val W = 8660
    }
}
