package org.invdn.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class ImagesTest {
    /** A 2 x 3 stored photo whose red channel is 0, 30, ... 150 (green and blue: +1, +2; alpha 255). */
    private fun stored(): ByteArray {
        val data = ByteArray(2 * 3 * 4)
        for (p in 0 until 6) {
            data[p * 4] = (p * 30).toByte()
            data[p * 4 + 1] = (p * 30 + 1).toByte()
            data[p * 4 + 2] = (p * 30 + 2).toByte()
            data[p * 4 + 3] = 255.toByte()
        }
        return data
    }

    @Test
    fun everyExifOrientationIsTurnedUprightAsPillowDoes() {
        // Upright red channels of the stored photo [[0, 30, 60], [90, 120, 150]], from Pillow's
        // ImageOps.exif_transpose (the EXIF spec: 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 270).
        val expected = mapOf(
            1 to listOf(listOf(0, 30, 60), listOf(90, 120, 150)),
            2 to listOf(listOf(60, 30, 0), listOf(150, 120, 90)),
            3 to listOf(listOf(150, 120, 90), listOf(60, 30, 0)),
            4 to listOf(listOf(90, 120, 150), listOf(0, 30, 60)),
            5 to listOf(listOf(0, 90), listOf(30, 120), listOf(60, 150)),
            6 to listOf(listOf(90, 0), listOf(120, 30), listOf(150, 60)),
            7 to listOf(listOf(150, 60), listOf(120, 30), listOf(90, 0)),
            8 to listOf(listOf(60, 150), listOf(30, 120), listOf(0, 90))
        )
        for ((orientation, rows) in expected) {
            val image = Rgba8Image(stored(), 2, 3, orientation)
            assertEquals("orientation $orientation height", rows.size, image.height)
            assertEquals("orientation $orientation width", rows[0].size, image.width)
            val red = (0 until image.height).map { y -> (0 until image.width).map { x -> Math.round(image.value(y, x, 0) * 255f) } }
            assertEquals("orientation $orientation", rows, red)
            for (y in 0 until image.height) for (x in 0 until image.width) {
                assertEquals((rows[y][x] + 2) / 255f, image.value(y, x, 2), 0f) // the blue channel of the same pixel
            }
            val upright = image.uprightRgba()
            val flat = rows.flatten()
            for (p in flat.indices) {
                assertEquals(flat[p], upright[p * 4].toInt() and 0xFF)
                assertEquals(255, upright[p * 4 + 3].toInt() and 0xFF)
            }
        }
        assertEquals(1, Rgba8Image(stored(), 2, 3, 0).orientation) // 0, "undefined", is upright
        for (orientation in 1..8) { // and back: upright pixels laid out as stored again are the stored ones
            val image = Rgba8Image(stored(), 2, 3, orientation)
            assertArrayEquals("orientation $orientation", stored(), Rgba8Image.storedRgba(image.uprightRgba(), image.height, image.width, orientation))
        }
    }

    @Test
    fun eightBitLevelsAreTheFloatsThePackageReads() {
        val data = ByteArray(256 * 4)
        for (v in 0 until 256) data[v * 4] = v.toByte()
        val image = Rgba8Image(data, 1, 256)
        for (v in 0 until 256) {
            assertEquals(v.toFloat() / 255f, image.value(0, v, 0), 0f) // numpy: uint8 -> float32 / 255
            assertEquals(v, Pixels.toByte(image.value(0, v, 0))) // and back exactly
        }
    }

    @Test
    fun floatsBecomeBytesByRoundingHalfToEvenAfterClipping() {
        // np.round(np.clip(v, 0, 1) * 255) in float32: 0.5 * 255 = 127.5 -> 128 (even); 0.3 * 255 = 76.5 -> 76
        assertEquals(128, Pixels.toByte(0.5f))
        assertEquals(76, Pixels.toByte(0.3f))
        assertEquals(0, Pixels.toByte(-0.2f))
        assertEquals(255, Pixels.toByte(1.7f))
        assertEquals(0, Pixels.toByte(Float.NaN))
        val out = ByteArray(8)
        Pixels.toRgba(floatArrayOf(0f, 0.5f, 1f, 1f, 0.3f, -1f), 1, 2, out, 0)
        assertArrayEquals(byteArrayOf(0, 128.toByte(), 255.toByte(), 255.toByte(), 255.toByte(), 76, 0, 255.toByte()), out)
    }

    @Test
    fun layoutsIndexTheSameTensorDifferently() {
        val t = 4
        assertEquals(((2 * t) + 3) * 3 + 1, Layout.NHWC.index(t, 3, 2, 3, 1))
        assertEquals((1 * t + 2) * t + 3, Layout.NCHW.index(t, 3, 2, 3, 1))
        val image = SyntheticPhoto(5, 7)
        val nhwc = FloatArray(3 * t * t)
        val nchw = FloatArray(3 * t * t)
        Pixels.extractTile(image, t, 4, 3, Layout.NHWC, nhwc)
        Pixels.extractTile(image, t, 4, 3, Layout.NCHW, nchw)
        for (i in 0 until t) for (j in 0 until t) for (c in 0 until 3) {
            // row 4 + i of a 5-row photo mirrors back (5 -> 4, 6 -> 3); column 3 + j stays inside
            val want = image.value(Tiling.mirrorIndex(4 + i, 5), 3 + j, c)
            assertEquals(want, nhwc[(i * t + j) * 3 + c], 0f)
            assertEquals(want, nchw[(c * t + i) * t + j], 0f)
        }
    }

    @Test
    fun wrongSizesAreRefused() {
        for (make in listOf({ Rgba8Image(ByteArray(10), 2, 3) }, { Rgba8Image(stored(), 2, 3, 9) }, { FloatImage(2, 2, FloatArray(5)) })) {
            try {
                make()
                fail("accepted")
            } catch (e: InvdnException) {
                assertTrue(e.message!!.isNotEmpty())
            }
        }
    }
}
