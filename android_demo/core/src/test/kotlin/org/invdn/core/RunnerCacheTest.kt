package org.invdn.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/** Compile once per (model, accelerator, threads), close on eviction and on clear, fall back as the manifest says. */
class RunnerCacheTest {
    private val fp32 = Golden.manifest("android-cpu-fp32").artifacts.first { !it.z.asInput }
    private val int8dyn = Golden.manifest("android-cpu-int8dyn").artifacts[0]

    private class FakeCompiled(val key: RunnerKey) : AutoCloseable {
        var closed = 0
        override fun close() {
            closed++
        }
    }

    /** Records every compile; [refuse] lists the accelerators that throw, as a phone's refusing GPU does. */
    private class Compiler(val refuse: Set<AcceleratorChoice> = emptySet()) {
        val made = ArrayList<FakeCompiled>()
        val asked = ArrayList<RunnerKey>()
        fun compile(key: RunnerKey): FakeCompiled {
            asked.add(key)
            if (key.accelerator in refuse) throw IllegalStateException("${key.accelerator.label} delegate: unsupported op\nstack")
            return FakeCompiled(key).also { made.add(it) }
        }
    }

    @Test
    fun aKeyIsCompiledOnceAndThreadsMatterOnlyOnTheCpu() {
        val c = Compiler()
        val cache = RunnerCache(4, c::compile)
        val a = cache.get(RunnerKey.of("m.tflite", AcceleratorChoice.GPU_FP16, 4))
        val b = cache.get(RunnerKey.of("m.tflite", AcceleratorChoice.GPU_FP16, 2)) // GPU: the thread slider is ignored
        assertSame(a, b)
        assertEquals(1, cache.compiles)
        assertEquals(1, cache.hits)
        cache.get(RunnerKey.of("m.tflite", AcceleratorChoice.CPU, 4))
        cache.get(RunnerKey.of("m.tflite", AcceleratorChoice.CPU, 2)) // CPU: another thread count, another compile
        cache.get(RunnerKey.of("other.tflite", AcceleratorChoice.CPU, 2))
        assertEquals(4, cache.compiles)
        assertEquals(4, cache.size)
        assertEquals(setOf(null, 4, 2), c.asked.map { it.threads }.toSet())
    }

    @Test
    fun theLeastRecentRunnerIsClosedWhenFullAndClearClosesEveryRunner() {
        val c = Compiler()
        val cache = RunnerCache(2, c::compile)
        val k1 = RunnerKey.of("1", AcceleratorChoice.CPU, 1)
        val k2 = RunnerKey.of("2", AcceleratorChoice.CPU, 1)
        val k3 = RunnerKey.of("3", AcceleratorChoice.CPU, 1)
        cache.get(k1)
        cache.get(k2)
        cache.get(k1) // 1 is now the most recent
        cache.get(k3) // evicts 2
        assertEquals(listOf(0, 1, 0), c.made.map { it.closed })
        assertEquals(2, cache.size)
        cache.get(k2) // a miss again: compiled anew, evicting 1
        assertEquals(4, cache.compiles)
        assertEquals(1, c.made[0].closed)
        cache.clear()
        assertEquals(0, cache.size)
        assertTrue("every runner closed exactly once: ${c.made.map { it.closed }}", c.made.all { it.closed == 1 })
        cache.get(k3) // usable after clear: compiled again
        assertEquals(5, cache.compiles)
    }

    @Test
    fun aRefusedGpuFallsBackToTheCpuWithANoteAndIsNotRetried() {
        val c = Compiler(refuse = setOf(AcceleratorChoice.GPU_FP16))
        val cache = RunnerCache(4, c::compile)
        val opened = cache.open(fp32, "models/fp32.tflite", AcceleratorChoice.GPU_FP16, 4)
        assertEquals(AcceleratorChoice.CPU, opened.used)
        assertEquals(4, opened.runner.key.threads)
        val note = opened.note!!
        assertTrue(note, note.contains("GPU FP16 cannot run models/fp32.tflite: GPU FP16 delegate: unsupported op") && note.endsWith("running on the CPU"))
        assertTrue("one line: $note", !note.contains("\n"))
        val again = cache.open(fp32, "models/fp32.tflite", AcceleratorChoice.GPU_FP16, 4)
        assertSame(opened.runner, again.runner)
        assertEquals(listOf(AcceleratorChoice.GPU_FP16, AcceleratorChoice.CPU), c.asked.map { it.accelerator }) // the GPU asked once
        val gpu32 = cache.open(fp32, "models/fp32.tflite", AcceleratorChoice.GPU_FP32, 4)
        assertEquals(AcceleratorChoice.GPU_FP32, gpu32.used)
        assertNull(gpu32.note)
    }

    @Test
    fun anAcceleratorTheManifestDoesNotListIsNeverCompiled() {
        val c = Compiler()
        val cache = RunnerCache(4, c::compile)
        val opened = cache.open(int8dyn, "models/int8dyn.tflite", AcceleratorChoice.GPU_FP16, 2)
        assertEquals(AcceleratorChoice.CPU, opened.used)
        assertEquals(listOf(AcceleratorChoice.CPU), c.asked.map { it.accelerator })
        assertTrue(opened.note!!, opened.note!!.contains("not offered"))
    }

    @Test
    fun whenEveryAcceleratorRefusesTheErrorSaysWhyForEach() {
        val c = Compiler(refuse = setOf(AcceleratorChoice.NPU, AcceleratorChoice.CPU))
        val cache = RunnerCache(4, c::compile)
        val s16io = Golden.manifest("android-npu-int8-s16-io").artifacts[0]
        try {
            cache.open(s16io, "npu.tflite", AcceleratorChoice.NPU, null)
            fail("opened")
        } catch (e: InvdnException) {
            assertTrue(e.message!!, e.message!!.contains("NPU cannot run npu.tflite") && e.message!!.contains("CPU cannot run npu.tflite"))
        }
        assertEquals(0, cache.size)
    }
}
