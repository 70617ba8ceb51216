package org.invdn.core

// The photo screen's state machine: load -> denoise -> save, with cancel. Every start of work takes a new run id;
// a result, progress or error is accepted only with the current id, so a late result for photo A (a denoise that
// was cancelled, or overtaken by opening photo B) never lands on photo B.

enum class Phase { EMPTY, LOADING, READY, DENOISING, DENOISED, SAVING }

/** What the UI shows of a [PhotoRun]. */
data class RunSnapshot(val phase: Phase, val runId: Int, val progress: Float, val error: String?)

/** The state of one photo screen: photo [P] (as loaded) and result [R] (as denoised). Thread-safe. */
class PhotoRun<P, R> {
    var phase: Phase = Phase.EMPTY
        private set
    var photo: P? = null
        private set
    var result: R? = null
        private set
    var runId: Int = 0
        private set
    var progress: Float = 0f
        private set
    var error: String? = null
        private set

    @Synchronized
    fun snapshot(): RunSnapshot = RunSnapshot(phase, runId, progress, error)

    /** Start loading a new photo: whatever ran is superseded (its late results are refused). Returns the run id. */
    @Synchronized
    fun load(): Int = start(Phase.LOADING)

    /** The photo of run [id] is loaded; false (and ignored) when that run is no longer current. */
    @Synchronized
    fun loaded(id: Int, loaded: P): Boolean {
        if (id != runId || phase != Phase.LOADING) return false
        photo = loaded
        phase = Phase.READY
        return true
    }

    /** Start denoising the loaded photo; the run id, or null when there is no photo or work is under way. */
    @Synchronized
    fun denoise(): Int? {
        if (photo == null || (phase != Phase.READY && phase != Phase.DENOISED)) return null
        return start(Phase.DENOISING)
    }

    /** Progress of run [id]: [done] of [total] tiles; false when stale. */
    @Synchronized
    fun progress(id: Int, done: Int, total: Int): Boolean {
        if (id != runId || phase != Phase.DENOISING) return false
        progress = if (total > 0) done.toFloat() / total else 0f
        return true
    }

    /** The result of run [id]; false (and dropped) when that run was cancelled or superseded. */
    @Synchronized
    fun denoised(id: Int, denoised: R): Boolean {
        if (id != runId || phase != Phase.DENOISING) return false
        result = denoised
        phase = Phase.DENOISED
        progress = 1f
        return true
    }

    /** Start saving the result; the run id, or null when there is none. */
    @Synchronized
    fun save(): Int? {
        if (phase != Phase.DENOISED || result == null) return null
        runId++
        phase = Phase.SAVING
        error = null
        return runId
    }

    /** Run [id] saved; false when stale. */
    @Synchronized
    fun saved(id: Int): Boolean {
        if (id != runId || phase != Phase.SAVING) return false
        phase = Phase.DENOISED
        return true
    }

    /** Run [id] failed with [message] (one line for the user); false when stale. */
    @Synchronized
    fun failed(id: Int, message: String): Boolean {
        if (id != runId) return false
        phase = settled()
        error = message
        return true
    }

    /** Stop loading or denoising: the run's late results are refused. False when nothing was running. */
    @Synchronized
    fun cancel(): Boolean {
        if (phase != Phase.LOADING && phase != Phase.DENOISING) return false
        runId++
        phase = settled()
        progress = 0f
        return true
    }

    // A new run: a new id (the old one's results are refused from now on), no result, error or progress yet.
    private fun start(next: Phase): Int {
        runId++
        phase = next
        result = null
        error = null
        progress = 0f
        return runId
    }

    private fun settled(): Phase = when {
        result != null -> Phase.DENOISED
        photo != null -> Phase.READY
        else -> Phase.EMPTY
    }
}
