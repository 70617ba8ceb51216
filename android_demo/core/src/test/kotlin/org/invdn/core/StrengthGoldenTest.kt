package org.invdn.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** Strength against golden/tiling/strength.json: sigma estimate, the curve, the blend. */
class StrengthGoldenTest {
    private val doc = Golden.json("tiling/strength.json")

    @Test
    fun sigmaEstimateEqualsThePackages() {
        var worst = 0.0
        val cases = doc.getAsJsonArray("cases")
        assertEquals(6, cases.size())
        for (e in cases) {
            val c = e.asJsonObject
            val sigma = Strength.estimateSigma(Golden.image(c, "image")).toDouble()
            worst = Math.max(worst, Math.abs(sigma - c.get("expected").asDouble))
        }
        println("strength: sigma max abs err vs golden $worst")
        assertTrue("sigma max abs err $worst > 3e-6", worst <= 3e-6)
    }

    @Test
    fun curveEqualsNumpyInterp() {
        val c = doc.getAsJsonObject("curve")
        val curve = StrengthCurve(c.getAsJsonArray("sigma").map { it.asDouble }, c.getAsJsonArray("strength").map { it.asDouble })
        for (e in doc.getAsJsonArray("queries")) {
            val q = e.asJsonObject
            assertEquals("sigma ${q.get("sigma")}", q.get("expected").asDouble, curve.at(q.get("sigma").asDouble), 0.0)
        }
    }

    @Test
    fun blendEqualsThePackages() {
        val b = doc.getAsJsonObject("blend")
        val noisy = Golden.image(b, "noisy")
        val denoised = Golden.f32(b.get("denoised").asString)
        for (e in b.getAsJsonArray("cases")) {
            val c = e.asJsonObject
            val values = denoised.copyOf()
            Strength.blendRows(noisy, 0, noisy.height, values, c.get("strength").asDouble)
            val err = Golden.maxAbsDiff(values, Golden.f32(c.get("expected").asString))
            assertEquals("strength ${c.get("strength")}", 0.0, err, 0.0)
        }
    }

    @Test
    fun blendRowsFromTheMiddleOfThePhotoReadTheRightNoisyRows() {
        val image = SyntheticPhoto(9, 5)
        val denoised = FloatArray(9 * 5 * 3) { 0.25f }
        val rows = denoised.copyOfRange(4 * 5 * 3, 7 * 5 * 3) // photo rows 4, 5, 6
        Strength.blendRows(image, 4, 3, rows, 0.5)
        for (y in 0 until 3) for (x in 0 until 5) for (c in 0 until 3) {
            val noisy = image.value(4 + y, x, c)
            assertEquals(noisy + 0.5f * (0.25f - noisy), rows[(y * 5 + x) * 3 + c], 0f)
        }
    }
}
