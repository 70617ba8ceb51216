package org.invdn.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

/** The photo screen's state machine: one run id, so a late result never lands on the wrong photo. */
class RunStateTest {
    @Test
    fun aLateResultForPhotoANeverLandsOnPhotoB() {
        val run = PhotoRun<String, String>()
        val loadA = run.load()
        assertTrue(run.loaded(loadA, "A"))
        val denoiseA = run.denoise()!!
        assertEquals(Phase.DENOISING, run.phase)
        val loadB = run.load() // the user picks photo B while A is being denoised
        assertFalse(run.progress(denoiseA, 3, 6))
        assertFalse(run.denoised(denoiseA, "A denoised"))
        assertFalse(run.failed(denoiseA, "A's runner failed"))
        assertTrue(run.loaded(loadB, "B"))
        assertEquals("B", run.photo)
        assertNull(run.result)
        assertNull(run.error)
        val denoiseB = run.denoise()!!
        assertTrue(run.progress(denoiseB, 3, 6))
        assertEquals(0.5f, run.progress, 0f)
        assertTrue(run.denoised(denoiseB, "B denoised"))
        assertEquals(RunSnapshot(Phase.DENOISED, denoiseB, 1f, null), run.snapshot())
        assertEquals("B denoised", run.result)
    }

    @Test
    fun aSlowLoadOfAnEarlierPickIsDropped() {
        val run = PhotoRun<String, String>()
        val first = run.load()
        val second = run.load()
        assertFalse(run.loaded(first, "first"))
        assertTrue(run.loaded(second, "second"))
        assertEquals("second", run.photo)
    }

    @Test
    fun cancelStopsTheRunRefusesItsResultAndAllowsAnother() {
        val run = PhotoRun<String, String>()
        run.loaded(run.load(), "A")
        val first = run.denoise()!!
        assertNull(run.denoise()) // one run at a time
        assertTrue(run.cancel())
        assertEquals(Phase.READY, run.phase)
        assertFalse(run.denoised(first, "late"))
        assertNull(run.result)
        assertFalse(run.cancel()) // nothing runs
        val second = run.denoise()!!
        assertTrue(second > first)
        assertTrue(run.denoised(second, "done"))
        // cancelling a re-run (which cleared the earlier result) leaves the photo ready
        run.denoise()!!
        assertTrue(run.cancel())
        assertEquals(Phase.READY, run.phase)
    }

    @Test
    fun saveNeedsAResultAndAFailureKeepsThePhoto() {
        val run = PhotoRun<String, String>()
        assertNull(run.save())
        assertNull(run.denoise()) // no photo yet
        run.loaded(run.load(), "A")
        val d = run.denoise()!!
        assertTrue(run.failed(d, "GPU ran out of memory"))
        assertEquals(Phase.READY, run.phase)
        assertEquals("GPU ran out of memory", run.error)
        val again = run.denoise()!!
        assertNull(run.error)
        run.denoised(again, "result")
        val s = run.save()!!
        assertEquals(Phase.SAVING, run.phase)
        assertNull(run.denoise()) // not while saving
        assertTrue(run.saved(s))
        assertEquals(Phase.DENOISED, run.phase)
        val s2 = run.save()!!
        assertTrue(run.failed(s2, "the gallery refused"))
        assertEquals(Phase.DENOISED, run.phase) // the result is still there to save again
        assertEquals("result", run.result)
    }
}
