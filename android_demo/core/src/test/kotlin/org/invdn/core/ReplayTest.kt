package org.invdn.core

import com.google.gson.JsonObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/**
 * End to end on a real model's numbers (golden/replay/, written by `invdn golden`): a sample photo with EXIF
 * orientation 6 through the compact FP32 TFLite artifact. No LiteRT runs on this JVM, so the runner replays what the
 * artifact returned under the package's LiteRT runner, after checking that the core fed it the same tile (decode,
 * orientation, layout, padding, plan). The rest (blend, strength, 8-bit encode) must give the package's photo.
 */
class ReplayTest {
    private val doc = Golden.json("replay/replay.json")
    private val artifact = Manifest.parse(Golden.file("replay/manifest.json").readText(), "golden/replay/manifest.json").artifacts[0]
    private val tolerance = doc.getAsJsonObject("tolerance")

    /** Replays the recorded tiles in order; records how far each input was from the recorded one. */
    private class ReplayRunner(val cases: List<JsonObject>) : TileRunner {
        var calls = 0
        var inputErr = 0.0
        override fun run(input: FloatArray): FloatArray {
            if (calls >= cases.size) fail("more tiles than the artifact was fed: ${calls + 1}")
            val case = cases[calls++]
            inputErr = Math.max(inputErr, Golden.maxAbsDiff(input, Golden.f32(case.get("input").asString)))
            return Golden.f32(case.get("output").asString)
        }
    }

    private fun photo(): Rgba8Image = Golden.replayPhoto(doc)

    private fun cases(): List<JsonObject> = doc.getAsJsonArray("cases").map { it.asJsonObject }

    @Test
    fun theWholePhotoThroughTheCoreIsThePackagesPhoto() {
        val image = photo()
        val p = doc.getAsJsonObject("photo")
        assertEquals(p.get("height").asInt, image.height)
        assertEquals(p.get("width").asInt, image.width)
        val runner = ReplayRunner(cases())
        val float = FloatArray(image.height * image.width * 3)
        val bytes = Rgba8Collector(image.height, image.width)
        var bands = 0
        val result = Denoiser(artifact).run(image, runner, null, { y0, rows, values ->
            System.arraycopy(values, 0, float, y0 * image.width * 3, values.size)
            bytes.rows(y0, rows, values)
            bands++
        })
        assertEquals(cases().size, runner.calls)
        assertEquals(doc.getAsJsonObject("plan").get("tiles").asInt, result.tiles)
        assertTrue("rows must stream out in more than one band", bands > 1)
        assertTrue("input tiles differ by ${runner.inputErr}", runner.inputErr <= tolerance.get("input").asDouble)
        assertEquals("sigma", doc.get("sigma").asDouble, result.sigma.toDouble(), 3e-6)
        assertEquals("strength", doc.get("strength").asDouble, result.strength, 1e-9)
        val r = doc.getAsJsonObject("result")
        val floatErr = Golden.maxAbsDiff(float, Golden.f32(r.get("float").asString))
        val levels = Golden.maxLevelDiff(bytes.data, Golden.u8(r.get("rgb8").asString))
        println(
            "REPLAY tiles=${runner.calls} input_max_abs_err=${runner.inputErr} float_max_abs_err=$floatErr " +
                "rgb8_max_diff=$levels sigma=${result.sigma.toDouble()} sigma_expected=${doc.get("sigma").asDouble} strength=${result.strength}"
        )
        assertTrue("float result differs by $floatErr", floatErr <= tolerance.get("float").asDouble)
        assertTrue("8-bit result differs by $levels levels", levels <= tolerance.get("rgb8").asInt)
    }

    @Test
    fun aFixedStrengthOfOneIsTheModelAloneBlended() {
        val image = photo()
        val runner = ReplayRunner(cases())
        val float = FloatArray(image.height * image.width * 3)
        val result = Denoiser(artifact).run(image, runner, 1.0, { y0, _, values ->
            System.arraycopy(values, 0, float, y0 * image.width * 3, values.size)
        })
        assertEquals(1.0, result.strength, 0.0)
        assertTrue(result.sigma.isNaN()) // not estimated when not needed
        // strength 1 keeps the model's change: the result moved away from the auto-strength one
        val auto = Golden.f32(doc.getAsJsonObject("result").get("float").asString)
        assertTrue(Golden.maxAbsDiff(float, auto) > 1e-3)
    }

    @Test
    fun cancelStopsBetweenTiles() {
        val runner = ReplayRunner(cases())
        try {
            Denoiser(artifact).run(photo(), runner, null, { _, _, _ -> }, isCancelled = { runner.calls >= 2 })
            fail("not cancelled")
        } catch (e: CancelledException) {
            assertEquals(2, runner.calls)
        }
    }

    @Test
    fun aRunnerReturningTheWrongSizeIsOneClearError() {
        val short = object : TileRunner {
            override fun run(input: FloatArray): FloatArray = FloatArray(input.size - 1)
        }
        try {
            Denoiser(artifact).run(photo(), short, null, { _, _, _ -> })
            fail("accepted")
        } catch (e: InvdnException) {
            assertTrue(e.message!!, e.message!!.contains("expected 12288"))
        }
    }
}
