package org.invdn.core

import com.google.gson.JsonParser
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/**
 * The accelerator rules on the manifests the exporter really wrote (`invdn export <recipe> --tile 64`, committed in
 * core/src/test/resources/manifests/): what each file is offered on, where a choice falls back, what is skipped.
 */
class AcceleratorsTest {
    private val fp32 = Golden.manifest("android-cpu-fp32")
    private val fp16 = Golden.manifest("android-gpu-fp16").artifacts[0]
    private val int8 = Golden.manifest("android-cpu-int8").artifacts[0]
    private val int8dyn = Golden.manifest("android-cpu-int8dyn").artifacts[0]
    private val s16 = Golden.manifest("android-npu-int8-s16").artifacts[0]
    private val s16io = Golden.manifest("android-npu-int8-s16-io").artifacts[0]
    private val gpuCpu = listOf(AcceleratorChoice.GPU_FP16, AcceleratorChoice.GPU_FP32, AcceleratorChoice.CPU)

    @Test
    fun eachExportedFileIsOfferedOnWhatItsManifestLists() {
        val constant = fp32.artifacts.first { !it.z.asInput }
        assertEquals(listOf("cpu", "gpu"), constant.accelerators)
        assertEquals(gpuCpu, Accelerators.offered(constant))
        assertEquals(gpuCpu, Accelerators.offered(fp16))
        assertEquals(gpuCpu, Accelerators.offered(int8))
        assertEquals(listOf(AcceleratorChoice.CPU), Accelerators.offered(int8dyn)) // hybrid int8 convs: no GPU kernel
        assertEquals(listOf(AcceleratorChoice.CPU, AcceleratorChoice.NPU), Accelerators.offered(s16))
        assertEquals(listOf(AcceleratorChoice.CPU, AcceleratorChoice.NPU), Accelerators.offered(s16io))
        assertTrue(s16io.int8Io && !s16.int8Io && !constant.int8Io)
        assertEquals(-128, s16io.inputs[0].zeroPoint)
        assertEquals(1.0 / 255, s16io.inputs[0].scale!!, 1e-9)
    }

    @Test
    fun aChoiceFallsBackToTheCpuAndOneNotListedIsNeverTried() {
        assertEquals(listOf(AcceleratorChoice.NPU, AcceleratorChoice.CPU), Accelerators.order(s16io, AcceleratorChoice.NPU))
        assertEquals(listOf(AcceleratorChoice.GPU_FP32, AcceleratorChoice.CPU), Accelerators.order(fp16, AcceleratorChoice.GPU_FP32))
        assertEquals(listOf(AcceleratorChoice.CPU), Accelerators.order(int8dyn, AcceleratorChoice.CPU))
        assertNull(Accelerators.note(s16io, AcceleratorChoice.NPU))
        // int8dyn asked on the GPU: the manifest lists the CPU only, so the GPU is not tried and the user is told
        assertEquals(listOf(AcceleratorChoice.CPU), Accelerators.order(int8dyn, AcceleratorChoice.GPU_FP16))
        val note = Accelerators.note(int8dyn, AcceleratorChoice.GPU_FP16)!!
        assertTrue(note, note.contains("GPU FP16 is not offered") && note.contains(int8dyn.file) && note.contains("using CPU"))
        // the NPU asked for an FP32 file: its first offered accelerator (the GPU), then the CPU
        assertEquals(listOf(AcceleratorChoice.GPU_FP16, AcceleratorChoice.CPU), Accelerators.order(fp16, AcceleratorChoice.NPU))
    }

    @Test
    fun theCatalogOffersBundledFilesAndListsEverySkippedOneWithItsReason() {
        fun folder(target: String, files: Set<String>? = null) =
            BundleFolder(target, Golden.manifestFile(target).readText(), files ?: Golden.manifest(target).artifacts.map { it.file }.toSet())
        val broken = BundleFolder("android-broken", "{\"artifacts\": [", setOf("x.tflite"))
        val old = BundleFolder("android-old", Golden.file("replay/manifest.json").readText(), setOf("invdn-compact-64-fp32.tflite"))
        val missing = folder("android-cpu-int8", emptySet())
        val catalog = Catalog.of(listOf(folder("android-cpu-fp32"), folder("android-npu-int8-s16-io"), folder("android-cpu-int8dyn"), broken, old, missing))
        assertEquals(
            listOf("android-cpu-fp32/invdn-compact-64-fp32.tflite", "android-cpu-int8dyn/invdn-compact-64-int8dyn.tflite", "android-npu-int8-s16-io/invdn-compact-64-int8.tflite"),
            catalog.offered.map { "${it.target}/${it.artifact.file}" }
        )
        val reasons = catalog.skipped.associate { "${it.target}/${it.file}" to it.reason }
        assertEquals(setOf("android-broken/manifest.json", "android-cpu-fp32/invdn-compact-64-fp32-zin.tflite", "android-cpu-int8/invdn-compact-64-int8.tflite", "android-old/invdn-compact-64-fp32.tflite"), reasons.keys)
        assertTrue(reasons["android-broken/manifest.json"]!!.contains("not valid JSON"))
        assertTrue(reasons["android-cpu-fp32/invdn-compact-64-fp32-zin.tflite"]!!.contains("z as a second input"))
        assertTrue(reasons["android-cpu-int8/invdn-compact-64-int8.tflite"]!!.contains("not bundled"))
        assertTrue(reasons["android-old/invdn-compact-64-fp32.tflite"]!!.contains("lists no accelerators"))
    }

    @Test
    fun aManifestNamingAnUnknownAcceleratorOrNoCpuIsRefused() {
        val text = Golden.file("replay/manifest.json").readText()
        for ((list, word) in listOf("[\"gpu\", \"tpu\"]" to "tpu", "[\"gpu\"]" to "must include cpu", "\"cpu\"" to "must be a list")) {
            val root = JsonParser.parseString(text).asJsonObject
            root.getAsJsonArray("artifacts")[0].asJsonObject.add("accelerators", JsonParser.parseString(list))
            try {
                Manifest.parse(root.toString(), "m.json")
                fail("accepted accelerators $list")
            } catch (e: ManifestException) {
                assertTrue(e.message!!, e.message!!.contains("artifacts[0].accelerators") && e.message!!.contains(word))
            }
        }
    }

    @Test
    fun anInt8ImageWithoutItsScaleIsNotRunnable() {
        val bare = s16io.copy(inputs = listOf(s16io.inputs[0].copy(scale = null)))
        assertEquals("int8 image without scale and zero point", bare.problem)
        assertEquals(emptyList<AcceleratorChoice>(), Accelerators.offered(bare))
        val uint8 = s16io.copy(inputs = listOf(s16io.inputs[0].copy(dtype = "uint8")), outputs = listOf(s16io.outputs[0].copy(dtype = "uint8")))
        assertTrue(uint8.problem!!.contains("uint8"))
        try {
            Accelerators.order(bare, AcceleratorChoice.CPU)
            fail("ordered a file that cannot run")
        } catch (e: InvdnException) {
            assertTrue(e.message!!.startsWith(s16io.file))
        }
    }
}
