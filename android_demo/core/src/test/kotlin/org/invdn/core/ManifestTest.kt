package org.invdn.core

import com.google.gson.JsonObject
import com.google.gson.JsonParser
import com.google.gson.JsonPrimitive
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** The manifest the export wrote for the replay artifact (golden/replay/manifest.json), and broken ones. */
class ManifestTest {
    private val text = Golden.file("replay/manifest.json").readText()

    @Test
    fun theRealExportManifestParses() {
        val m = Manifest.parse(text)
        assertEquals(1, m.artifacts.size)
        val a = m.artifacts[0]
        assertEquals("invdn-compact-64-fp32.tflite", a.file)
        assertEquals("tflite", a.format)
        assertEquals("fp32", a.precision)
        assertEquals(64, a.tile)
        assertEquals(Layout.NHWC, a.layout)
        assertEquals(listOf(TensorSpec("image", listOf(1, 64, 64, 3), "float32")), a.inputs)
        assertEquals("denoised", a.outputs[0].name)
        assertEquals(TilingSpec(64, 16, 4, "symmetric", "linear-feather"), a.tiling)
        assertEquals(ZSpec(0, 1.0, listOf(1, 45, 16, 16), false), a.z)
        assertEquals("compact", a.variant)
        assertTrue(a.macs.graph!! > 0 && a.bytes > 1_000_000 && a.sha256.length == 64)
        val curve = a.strength
        assertNotNull(curve)
        assertEquals(curve!!.sigma.size, curve.strength.size)
        assertTrue(a.gate!!.passed)
        assertTrue(a.runnable)
        assertEquals(listOf(a), m.runnable())
        assertEquals(3 * 64 * 64, a.tileValues)
    }

    private fun entry(): JsonObject = JsonParser.parseString(text).asJsonObject.getAsJsonArray("artifacts")[0].asJsonObject

    private fun withEntry(change: (JsonObject) -> Unit): String {
        val root = JsonParser.parseString(text).asJsonObject
        change(root.getAsJsonArray("artifacts")[0].asJsonObject)
        return root.toString()
    }

    private fun refused(text: String, vararg words: String) {
        try {
            Manifest.parse(text, "models/manifest.json")
            fail("accepted: ${text.take(80)}")
        } catch (e: ManifestException) {
            val msg = e.message!!
            assertTrue(msg, msg.startsWith("models/manifest.json: "))
            assertFalse("one line: $msg", msg.contains("\n"))
            for (w in words) assertTrue("'$w' not in: $msg", msg.contains(w))
        }
    }

    @Test
    fun malformedManifestsAreOneClearException() {
        refused("", "not valid JSON")
        refused("{\"artifacts\": [", "not valid JSON")
        refused("{artifacts: []}", "not valid JSON") // lenient JSON is not JSON
        refused("{} {}", "not valid JSON") // one document only
        refused("[1, 2]", "(top level)", "object")
        refused("{}", "artifacts", "missing")
        refused("{\"artifacts\": []}", "no artifacts")
        refused("{\"artifacts\": [42]}", "artifacts[0]", "object")
        refused(withEntry { it.remove("file") }, "artifacts[0].file", "missing")
        refused(withEntry { it.add("tile", JsonPrimitive(64)) }, "artifacts[0].tile", "list")
        refused(withEntry { it.add("tile", JsonParser.parseString("[64, 32]")) }, "artifacts[0].tile")
        refused(withEntry { it.add("layout", JsonPrimitive("NWHC")) }, "artifacts[0].layout", "NWHC")
        refused(withEntry { it.getAsJsonArray("inputs")[0].asJsonObject.add("shape", JsonParser.parseString("[1, 3, 64, 64]")) }, "inputs[0].shape")
        refused(withEntry { it.getAsJsonObject("tiling").add("tile", JsonPrimitive(128)) }, "tiling.tile")
        refused(withEntry { it.getAsJsonObject("tiling").add("overlap", JsonPrimitive(64)) }, "tiling.overlap")
        refused(withEntry { it.getAsJsonObject("z").add("seed", JsonPrimitive(0.5)) }, "z.seed", "whole number")
        refused(withEntry { it.add("bytes", JsonPrimitive("many")) }, "artifacts[0].bytes", "number")
        refused(withEntry {
            it.getAsJsonObject("strength").add("sigma", JsonParser.parseString("[2, 1]"))
            it.getAsJsonObject("strength").add("strength", JsonParser.parseString("[0.1, 0.2]"))
        }, "strength.sigma", "increasing")
        refused(withEntry { it.getAsJsonObject("strength").add("strength", JsonParser.parseString("[0.5]")) }, "same")
    }

    @Test
    fun anotherContractVersionIsRefusedNotMisread() {
        refused(withEntry { it.getAsJsonObject("tiling").add("padding", JsonPrimitive("reflect")) }, "tiling.padding", "reflect", "newer")
        refused(withEntry { it.getAsJsonObject("tiling").add("window", JsonPrimitive("cosine")) }, "tiling.window", "cosine")
        refused(withEntry { it.getAsJsonObject("strength").add("estimator", JsonPrimitive("donoho-v2")) }, "strength.estimator", "donoho-v2")
        val root = JsonParser.parseString(text).asJsonObject
        root.addProperty("version", 2)
        refused(root.toString(), "version", "2 is not 1")
        root.addProperty("version", 1)
        assertEquals(1, Manifest.parse(root.toString()).artifacts.size)
    }

    @Test
    fun entriesAnAppCannotRunAreParsedButNotRunnable() {
        val zin = Manifest.parse(withEntry {
            it.add("inputs", JsonParser.parseString("[{\"name\": \"image\", \"shape\": [1, 64, 64, 3], \"dtype\": \"float32\"}, {\"name\": \"z\", \"shape\": [1, 16, 16, 45], \"dtype\": \"float32\"}]"))
        }).artifacts[0]
        assertFalse(zin.runnable)
        val rejected = Manifest.parse(withEntry { it.getAsJsonObject("gate").addProperty("passed", false) }).artifacts[0]
        assertFalse(rejected.runnable)
        assertTrue(Manifest.parse(withEntry { it.add("strength", null) }).artifacts[0].strength == null)
        try {
            Denoiser(zin)
            fail("a z-input artifact was accepted by the denoiser")
        } catch (e: InvdnException) {
            assertTrue(e.message!!.contains("constant z"))
        }
        assertEquals("invdn-compact-64-fp32.tflite", entry().get("file").asString)
    }
}
