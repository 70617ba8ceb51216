package org.invdn.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** Tiling against golden/tiling/{plans,padding,blend}.json (written by invdn_mobile/golden.py). */
class TilingGoldenTest {

    @Test
    fun plansAndWindowsEqualThePackages() {
        val cases = Golden.json("tiling/plans.json").getAsJsonArray("cases")
        assertTrue(cases.size() >= 30)
        var windowErr = 0.0
        for (e in cases) {
            val c = e.asJsonObject
            val h = c.get("height").asInt
            val w = c.get("width").asInt
            val t = c.get("tile").asInt
            val o = c.get("overlap").asInt
            val label = "${h}x$w tile $t overlap $o"
            val p = Tiling.plan(h, w, t, o, c.get("multiple").asInt)
            assertArrayEquals(label, Golden.ints(c, "ys"), p.ys)
            assertArrayEquals(label, Golden.ints(c, "xs"), p.xs)
            assertArrayEquals(label, Golden.ints(c, "padded"), intArrayOf(p.paddedHeight, p.paddedWidth))
            val tiles = c.getAsJsonArray("tiles")
            assertEquals(label, tiles.size(), p.size)
            for (k in 0 until p.size) {
                assertArrayEquals("$label tile $k", tiles[k].asJsonArray.map { it.asInt }.toIntArray(), intArrayOf(p.y(k), p.x(k), t, t))
            }
            for ((key, origins) in listOf("window_y" to p.ys, "window_x" to p.xs)) {
                val expected = c.getAsJsonArray(key)
                val got = Tiling.axisWindows(origins, t)
                assertEquals(label, expected.size(), got.size)
                for (i in got.indices) {
                    val row = expected[i].asJsonArray
                    assertEquals(label, row.size(), got[i].size)
                    for (d in 0 until row.size()) windowErr = Math.max(windowErr, Math.abs(row[d].asDouble - got[i][d]))
                }
            }
        }
        assertEquals("windows differ from the package's", 0.0, windowErr, 0.0)
    }

    @Test
    fun mirrorPaddingEqualsThePackages() {
        for (e in Golden.json("tiling/padding.json").getAsJsonArray("cases")) {
            val c = e.asJsonObject
            val h = c.get("height").asInt
            val w = c.get("width").asInt
            val t = c.get("tile").asInt
            val image = Golden.image(c, "image")
            val expected = Golden.f32(c.get("expected").asString)
            val p = Tiling.plan(h, w, t, 0)
            val pw = p.paddedWidth
            assertArrayEquals(Golden.ints(c, "padded"), intArrayOf(p.paddedHeight, pw))
            // every tile the tiler cuts from the padded photo, in both layouts, is the padded golden image's crop
            for (layout in Layout.values()) {
                val tile = FloatArray(3 * t * t)
                for (k in 0 until p.size) {
                    Pixels.extractTile(image, t, p.y(k), p.x(k), layout, tile)
                    for (i in 0 until t) for (j in 0 until t) for (ch in 0 until 3) {
                        val want = expected[((p.y(k) + i) * pw + p.x(k) + j) * 3 + ch]
                        val got = tile[layout.index(t, 3, i, j, ch)]
                        if (want != got) fail("${h}x$w tile $t $layout: pixel ($i, $j, $ch) is $got, expected $want")
                    }
                }
            }
        }
    }

    /** golden/tiling/blend.json's stub per-tile function, as a TileRunner in [layout]. */
    private class StubRunner(val tile: Int, val layout: Layout) : TileRunner {
        var calls = 0
        override fun run(input: FloatArray): FloatArray {
            calls++
            val out = FloatArray(input.size)
            for (c in 0 until 3) for (i in 0 until tile) for (j in 0 until tile) {
                val q = layout.index(tile, 3, i, j, c)
                out[q] = 0.5f * input[q] + ((i + 2 * j + 3 * c).toDouble() / (4 * tile)).toFloat()
            }
            return out
        }
    }

    @Test
    fun streamedBlendEqualsThePackagesInBothLayouts() {
        val doc = Golden.json("tiling/blend.json")
        val image = Golden.image(doc, "image")
        val h = image.height
        val w = image.width
        var worst = 0.0
        for (e in doc.getAsJsonArray("cases")) {
            val c = e.asJsonObject
            val t = c.get("tile").asInt
            val p = Tiling.plan(h, w, t, c.get("overlap").asInt)
            assertEquals(c.get("tiles").asInt, p.size)
            for (layout in Layout.values()) {
                val result = FloatArray(h * w * 3)
                var rowsSeen = 0
                var firstFlushAt = -1
                val runner = StubRunner(t, layout)
                val blender = Blender(p, 3, layout) { y0, rows, values ->
                    assertEquals("rows arrive in order, once", rowsSeen, y0)
                    if (firstFlushAt < 0) firstFlushAt = runner.calls
                    System.arraycopy(values, 0, result, y0 * w * 3, values.size)
                    rowsSeen += rows
                }
                val tile = FloatArray(3 * t * t)
                for (k in 0 until p.size) {
                    Pixels.extractTile(image, t, p.y(k), p.x(k), layout, tile)
                    blender.add(k, runner.run(tile))
                }
                assertEquals(h, rowsSeen)
                if (p.ys.size > 1) assertTrue("rows must stream out before the last tile", firstFlushAt < p.size)
                worst = Math.max(worst, Golden.maxAbsDiff(result, Golden.f32(c.get("expected").asString)))
            }
        }
        assertTrue("blend max abs err $worst > 1e-6", worst <= 1e-6)
        println("tiling: blend max abs err vs golden $worst")
    }

    @Test
    fun tilesOutOfOrderOrOfTheWrongSizeAreRefused() {
        val p = Tiling.plan(37, 53, 16, 4)
        val blender = Blender(p, 3, Layout.NHWC) { _, _, _ -> }
        try {
            blender.add(1, FloatArray(3 * 16 * 16))
            fail("tile 1 before tile 0 was accepted")
        } catch (e: InvdnException) {
            assertTrue(e.message!!.contains("in order"))
        }
        try {
            blender.add(0, FloatArray(10))
            fail("a short tile was accepted")
        } catch (e: InvdnException) {
            assertTrue(e.message!!.contains("expected 768"))
        }
        for ((args, why) in listOf(intArrayOf(0, 5, 16, 4) to "empty", intArrayOf(5, 5, 18, 4) to "multiple of 4", intArrayOf(5, 5, 16, 16) to "overlap")) {
            try {
                Tiling.plan(args[0], args[1], args[2], args[3])
                fail("plan(${args.toList()}) was accepted")
            } catch (e: InvdnException) {
                assertTrue(e.message!!, e.message!!.contains(why))
            }
        }
    }
}
