package org.invdn.core

import com.google.gson.JsonObject
import java.util.Base64
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/**
 * The NPU file with int8 input and output (golden/replay-int8/: `android-npu-int8-s16-io` exported at tile 64 and
 * run by the package's LiteRT runner on the replay photo): the core quantizes each tile with the manifest's scale and
 * zero point, and the codes it feeds must be the codes LiteRT was fed, exactly; the recorded output codes, dequantized,
 * blended and encoded, must give the package's photo within one 8-bit level.
 */
class Int8ReplayTest {
    private val doc = Golden.json("replay-int8/replay.json")
    private val artifact = Manifest.parse(Golden.file("replay-int8/manifest.json").readText(), "golden/replay-int8/manifest.json").artifacts[0]

    private class CodeReplay(val cases: List<JsonObject>) : Int8TileRunner, AutoCloseable {
        var calls = 0
        var wrongCodes = 0
        var closed = false
        override fun run(input: ByteArray): ByteArray {
            if (calls >= cases.size) fail("more tiles than the artifact was fed: ${calls + 1}")
            val case = cases[calls++]
            val fed = Base64.getDecoder().decode(case.get("input_int8").asString)
            assertEquals(fed.size, input.size)
            for (i in fed.indices) if (fed[i] != input[i]) wrongCodes++
            return Base64.getDecoder().decode(case.get("output_int8").asString)
        }

        override fun close() {
            closed = true
        }
    }

    @Test
    fun theNpuFilesCodesReplayExactlyAndThePhotoIsWithinOneLevel() {
        assertTrue(artifact.int8Io && artifact.runnable)
        assertEquals(listOf("cpu", "npu"), artifact.accelerators)
        val image = Golden.replayPhoto(doc)
        val cases = doc.getAsJsonArray("cases").map { it.asJsonObject }
        val codes = CodeReplay(cases)
        val runner = Int8IoRunner(artifact, codes)
        val out = Rgba8Collector(image.height, image.width)
        val float = FloatArray(image.height * image.width * 3)
        val result = Denoiser(artifact).run(image, runner, null, { y0, rows, values ->
            System.arraycopy(values, 0, float, y0 * image.width * 3, values.size)
            out.rows(y0, rows, values)
        })
        runner.close()
        assertTrue(codes.closed)
        assertEquals(cases.size, codes.calls)
        assertEquals(doc.getAsJsonObject("plan").get("tiles").asInt, result.tiles)
        assertEquals("strength", doc.get("strength").asDouble, result.strength, 1e-9)
        val r = doc.getAsJsonObject("result")
        val floatErr = Golden.maxAbsDiff(float, Golden.f32(r.get("float").asString))
        val levels = Golden.maxLevelDiff(out.data, Golden.u8(r.get("rgb8").asString))
        println("REPLAY-INT8 tiles=${codes.calls} wrong_input_codes=${codes.wrongCodes} float_max_abs_err=$floatErr rgb8_max_diff=$levels")
        assertEquals("input codes that differ from LiteRT's", 0, codes.wrongCodes)
        assertTrue("8-bit result differs by $levels levels", levels <= 1)
        assertTrue("float result differs by $floatErr", floatErr <= 1e-5)
    }

    @Test
    fun quantizeRoundsHalfToEvenClipsAndDequantizeIsAffine() {
        val s = (1.0 / 255).toFloat()
        for (level in 0..255) {
            val v = level.toFloat() / 255f // an 8-bit pixel as the core reads it
            assertEquals("level $level", level - 128, Int8IoRunner.quantize(v, s, -128))
            assertEquals(v, Int8IoRunner.dequantize((level - 128).toByte(), s, -128), 1e-7f)
        }
        assertEquals(2, Int8IoRunner.quantize(2.5f, 1f, 0)) // half to even, as numpy.round
        assertEquals(4, Int8IoRunner.quantize(3.5f, 1f, 0))
        assertEquals(-2, Int8IoRunner.quantize(-2.5f, 1f, 0))
        assertEquals(127, Int8IoRunner.quantize(2f, s, -128)) // clipped
        assertEquals(-128, Int8IoRunner.quantize(-1f, s, -128))
        assertEquals(-128, Int8IoRunner.quantize(Float.NaN, s, -128))
        assertEquals(-0.5f, Int8IoRunner.dequantize((-3).toByte(), 0.25f, -1), 0f)
    }

    @Test
    fun aFloatArtifactIsNoInt8Runner() {
        val fp32 = Manifest.parse(Golden.file("replay/manifest.json").readText()).artifacts[0]
        try {
            Int8IoRunner(fp32, object : Int8TileRunner {
                override fun run(input: ByteArray): ByteArray = input
            })
            fail("accepted a float32 artifact")
        } catch (e: InvdnException) {
            assertTrue(e.message!!, e.message!!.contains("not an int8-I/O artifact"))
        }
    }
}
