package org.invdn.core

import com.google.gson.JsonParser
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File

/**
 * The benchmark loop and the results writer. The document is written to -Dinvdn.results.out when given, where
 * tests/test_android.py validates it with `invdn bench ingest` (the schema's own check).
 */
class BenchmarkTest {
    private val artifact = Manifest.parse(Golden.file("replay/manifest.json").readText()).artifacts[0]

    /** A real computation on this JVM in place of LiteRT: the golden blend stub (tiling/blend.json), NHWC. */
    private class StubRunner(val tile: Int) : TileRunner, AutoCloseable {
        var calls = 0
        var closed = false
        override fun run(input: FloatArray): FloatArray {
            calls++
            return FloatArray(input.size) { q -> 0.5f * input[q] + ((q / 3 / tile + 2 * (q / 3 % tile) + 3 * (q % 3)).toDouble() / (4 * tile)).toFloat() }
        }

        override fun close() {
            closed = true
        }
    }

    @Test
    fun quantilesAreNumpysLinearPercentiles() {
        // numpy.percentile([1, 2, 3, 4], [50, 90]) = 2.5, 3.7; of [5] = 5
        assertEquals(2.5, Stats.quantile(listOf(1.0, 2.0, 3.0, 4.0), 0.5), 1e-12)
        assertEquals(3.7, Stats.quantile(listOf(1.0, 2.0, 3.0, 4.0), 0.9), 1e-12)
        assertEquals(5.0, Stats.quantile(listOf(5.0), 0.9), 0.0)
    }

    @Test
    fun machineNamesAndDatesFollowTheSchema() {
        assertEquals("Pixel-8a", Results.machineName("Pixel 8a"))
        assertEquals("SM-S918B_galaxy", Results.machineName("  SM-S918B_galaxy "))
        assertEquals("android", Results.machineName("(?)"))
        assertEquals(64, Results.machineName("x".repeat(100)).length)
        assertEquals("2026-11-26T10:15:00Z", Results.isoDate(1795688100123L))
    }

    @Test
    fun benchmarkRowsAndTheResultsDocument() {
        val cpu = BenchCase(artifact, "android-cpu-fp32", "litert-xnnpack", "cpu", 4, 100, 150)
        val gpu = BenchCase(artifact, "android-cpu-fp32", "litert-gpu", "gpu", null, 100, 150)
        val small = BenchCase(artifact, "android-cpu-fp32", "litert-xnnpack", "cpu", 4, 64, 64)
        val runners = ArrayList<StubRunner>()
        var tick = 0L
        val rows = Benchmark(warmup = 1, repeats = 3).run(listOf(cpu, gpu, small), { case ->
            if (case.backend == "litert-gpu") throw InvdnException("GPU delegate refused the model\n(details)")
            StubRunner(artifact.tile).also { runners.add(it) }
        }, clock = { tick += 2_500_000L; tick }) // every run takes 2.5 ms on this clock
        assertEquals(listOf("ok", "failed", "ok"), rows.map { it.status })
        assertEquals(6, rows[0].tiles) // 100 x 150 at tile 64, overlap 16: 2 x 3 tiles
        assertEquals((1 + 3) * 6, runners[0].calls) // warm-up and repeats, whole photos
        assertTrue(runners.all { it.closed })
        assertEquals(listOf(2.5, 2.5, 2.5), rows[0].timesMs)
        assertEquals("GPU delegate refused the model", rows[1].error)

        val machine = Machine("Pixel 8a", "phone", "Google Tensor G3", 9, "Mali-G715", "Android 15 (API 35)", "Pixel 8a", mapOf("litert" to "2.3.0", "app" to "0.1.0"))
        val text = Results.toJson("2026-11-26T10:15:00Z", machine, rows)
        val out = System.getProperty("invdn.results.out")
        val file = if (out != null && out.isNotEmpty()) File(out) else File.createTempFile("results", ".json").also { it.deleteOnExit() }
        Results.write(file, text)
        val doc = JsonParser.parseString(file.readText()).asJsonObject
        assertEquals(1, doc.get("schema_version").asInt)
        assertEquals("android_demo", doc.get("source").asString)
        assertEquals("Pixel-8a", doc.getAsJsonObject("machine").get("name").asString)
        val ok = doc.getAsJsonArray("rows")[0].asJsonObject
        assertEquals("100x150", ok.get("size").asString)
        assertEquals(2.5, ok.get("median_ms").asDouble, 0.0)
        assertEquals(artifact.macs.graph!! * 6, ok.get("macs").asLong)
        assertEquals(artifact.bytes, ok.get("bytes").asLong)
        assertEquals(1.0, ok.get("speedup_vs_fp32").asDouble, 0.0)
        assertTrue(ok.get("speedup_vs_torch_eager").isJsonNull)
        val failed = doc.getAsJsonArray("rows")[1].asJsonObject
        assertTrue(failed.get("median_ms").isJsonNull && failed.get("p90_ms").isJsonNull)
        assertEquals("failed", failed.get("status").asString)
        assertTrue(!failed.has("repeats"))
        println("RESULTS written to $file (${doc.getAsJsonArray("rows").size()} rows)")
    }

    @Test
    fun benchmarkSpecsFromTheIntentExtra() {
        val spec = BenchmarkSpec.parse("models=fp32, fp16; accelerators=gpu-fp16,cpu; sizes=256,3000x4000; warmup=0; repeats=10; threads=4; machine=Pixel 8a")
        assertEquals(listOf("fp32", "fp16"), spec.models)
        assertEquals(listOf(AcceleratorChoice.GPU_FP16, AcceleratorChoice.CPU), spec.accelerators)
        assertEquals(listOf(PhotoSize(256, 256), PhotoSize(3000, 4000)), spec.sizes)
        assertEquals(listOf(0, 10, 4), listOf(spec.warmup, spec.repeats, spec.threads))
        assertEquals("Pixel 8a", spec.machine)
        assertEquals(BenchmarkSpec(), BenchmarkSpec.parse(""))
        val fp32 = artifact.copy(accelerators = listOf("cpu", "gpu"))
        val int8 = fp32.copy(file = "invdn-compact-64-int8.tflite", precision = "int8")
        val cases = spec.cases(listOf(BundledArtifact("android-cpu-fp32", fp32), BundledArtifact("android-cpu-int8", int8)))
        assertEquals(1 * 2 * 2, cases.size) // only fp32 matches: x 2 accelerators x 2 sizes
        assertEquals(listOf("litert-gpu-fp16", "litert-gpu-fp16", "litert-xnnpack", "litert-xnnpack"), cases.map { it.backend })
        assertEquals(listOf(null, null, 4, 4), cases.map { it.threads })
        assertEquals("android-cpu-fp32", cases[0].target)
        assertTrue(cases.all { it.skip == null })
        for (bad in listOf("sizes=12mp", "repeats=0", "accelerators=tpu", "speed=fast", "warmup", "models=")) {
            try {
                BenchmarkSpec.parse(bad)
                fail("accepted '$bad'")
            } catch (e: InvdnException) {
                assertTrue(e.message!!, e.message!!.startsWith("benchmark: "))
            }
        }
        try {
            BenchmarkSpec.parse("models=bf16").cases(listOf(BundledArtifact("android-cpu-fp32", artifact)))
            fail("no artifact matched, and yet cases")
        } catch (e: InvdnException) {
            assertTrue(e.message!!.contains("no bundled artifact"))
        }
    }

    @Test
    fun thePlanSkipsAcceleratorsTheManifestDoesNotListWithARow() {
        val int8dyn = Golden.manifest("android-cpu-int8dyn").artifacts[0]
        val s16io = Golden.manifest("android-npu-int8-s16-io").artifacts[0]
        val spec = BenchmarkSpec.parse("accelerators=gpu-fp16,npu,cpu;sizes=64;repeats=1;warmup=0")
        val cases = spec.cases(listOf(BundledArtifact("android-cpu-int8dyn", int8dyn), BundledArtifact("android-npu-int8-s16-io", s16io)))
        assertEquals(listOf("litert-gpu-fp16", "litert-npu", "litert-xnnpack", "litert-gpu-fp16", "litert-npu", "litert-xnnpack"), cases.map { it.backend })
        assertEquals(listOf(true, true, false, true, false, false), cases.map { it.skip != null })
        val opened = ArrayList<String>()
        val rows = Benchmark(0, 1).run(cases, { case ->
            opened.add(case.backend)
            if (case.backend == "litert-npu") throw java.io.IOException("no NPU dispatch library on this phone: the app runs it on the CPU")
            if (case.artifact.int8Io) Int8IoRunner(case.artifact, object : Int8TileRunner {
                override fun run(input: ByteArray): ByteArray = input
            }) else StubRunner(case.artifact.tile)
        })
        assertEquals(listOf("litert-xnnpack", "litert-npu", "litert-xnnpack"), opened) // skipped cases open nothing
        assertEquals(listOf("skipped", "skipped", "ok", "skipped", "failed", "ok"), rows.map { it.status })
        assertTrue(rows[0].error!!, rows[0].error!!.contains("GPU FP16 is not listed") && rows[0].error!!.contains("(cpu)"))
        assertEquals("no NPU dispatch library on this phone: the app runs it on the CPU", rows[4].error) // an IOException: a row, not a crash
        val json = Results.toJson("2026-12-07T10:00:00Z", Machine("p", "phone", "c", 8, null, "Android", "m", emptyMap()), rows)
        val doc = JsonParser.parseString(json).asJsonObject.getAsJsonArray("rows")
        assertEquals("skipped", doc[0].asJsonObject.get("status").asString)
        assertTrue(doc[0].asJsonObject.get("median_ms").isJsonNull)
    }

    @Test
    fun benchmarkPixelsAreMadeWhenReadNotHeld() {
        val big = SyntheticPhoto(8000, 12000) // 96 MP: a float copy would be 1.1 GB
        val again = SyntheticPhoto(8000, 12000)
        var sum = 0.0
        for (y in 0 until 8000 step 997) for (x in 0 until 12000 step 1999) for (c in 0 until 3) {
            val v = big.value(y, x, c)
            assertTrue(v >= 0f && v <= 1f)
            assertEquals(v, again.value(y, x, c), 0f)
            sum += v
        }
        assertTrue(Math.abs(big.value(5, 5, 0) - big.value(5, 6, 0)) > 0f) // noisy, not flat
        assertTrue(sum > 0)
        val rt = Runtime.getRuntime()
        val before = rt.totalMemory() - rt.freeMemory()
        val photos = List(20) { SyntheticPhoto(8000, 12000, it) } // 20 benchmark photos of 96 MP each
        assertTrue(rt.totalMemory() - rt.freeMemory() - before < (64L shl 20)) // not 22 GB of floats
        assertEquals(20, photos.map { it.value(0, 0, 0) }.size)
    }
}
