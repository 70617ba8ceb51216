package org.invdn.core

/** What a compiled runner is for: the model (its asset path), the accelerator, the CPU threads (CPU only). */
data class RunnerKey(val model: String, val accelerator: AcceleratorChoice, val threads: Int?) {
    companion object {
        /** The key, with threads dropped where they do not matter (GPU, NPU): one compile whatever the slider says. */
        @JvmStatic
        fun of(model: String, accelerator: AcceleratorChoice, threads: Int?): RunnerKey =
            RunnerKey(model, accelerator, if (accelerator == AcceleratorChoice.CPU) threads else null)
    }
}

/** A runner from [RunnerCache.open]: the accelerator it runs on and, when that is not the one asked for, why. */
class Opened<R>(val runner: R, val used: AcceleratorChoice, val note: String?)

/**
 * Compiled runners by [RunnerKey]: each compiled once (LiteRT's compile, GPU kernels included, costs seconds) and
 * kept for the next tap; at most [capacity] are kept, the least recently used closed first; [clear] closes them all
 * (the ViewModel's onCleared). A refusal (an accelerator that cannot run the model) is remembered too, so a fallback
 * does not recompile the refused one every time. Not for concurrent use from several threads at once: the app calls
 * it from its one LiteRT thread.
 */
class RunnerCache<R : AutoCloseable>(private val capacity: Int = 2, private val compile: (RunnerKey) -> R) {
    private val kept = LinkedHashMap<RunnerKey, R>(8, 0.75f, true) // access order: the eldest is the least recent
    private val refused = HashMap<RunnerKey, String>()

    /** How many compiles were asked of [compile] (refusals included), and how many requests a kept runner served. */
    var compiles = 0
        private set
    var hits = 0
        private set

    /** How many compiled runners are kept. */
    val size: Int
        get() = synchronized(this) { kept.size }

    init {
        if (capacity < 1) throw InvdnException("a runner cache keeps at least one runner")
    }

    /** The runner of [key]: the kept one, or compiled now (its exception, or the remembered refusal, is thrown). */
    @Synchronized
    fun get(key: RunnerKey): R {
        kept[key]?.let {
            hits++
            return it
        }
        refused[key]?.let { throw InvdnException(it) }
        compiles++
        val runner = try {
            compile(key)
        } catch (e: Exception) {
            val why = "${key.accelerator.label} cannot run ${key.model}: ${(e.message ?: e.javaClass.simpleName).lines().first()}"
            refused[key] = why
            throw InvdnException(why)
        }
        kept[key] = runner
        while (kept.size > capacity) {
            val eldest = kept.keys.first()
            kept.remove(eldest)?.close()
        }
        return runner
    }

    /**
     * A runner of [artifact] (asset [model]) on [wanted] or its fallback ([Accelerators.order]: the CPU), with a note
     * for the user when it is not [wanted]. Throws when no offered accelerator can run it.
     */
    @Synchronized
    fun open(artifact: Artifact, model: String, wanted: AcceleratorChoice, threads: Int?): Opened<R> {
        val notes = ArrayList<String>()
        Accelerators.note(artifact, wanted)?.let { notes.add(it) }
        val order = Accelerators.order(artifact, wanted)
        var last: InvdnException? = null
        for (choice in order) {
            try {
                val runner = get(RunnerKey.of(model, choice, threads))
                if (choice != order.first() || notes.isNotEmpty()) notes.add("running on the ${choice.label}")
                return Opened(runner, choice, if (notes.isEmpty()) null else notes.joinToString("; "))
            } catch (e: InvdnException) {
                notes.add(e.message ?: choice.label)
                last = e
            }
        }
        throw InvdnException(notes.joinToString("; ").ifEmpty { last?.message ?: "no accelerator" })
    }

    /** Close every kept runner and forget refusals. */
    @Synchronized
    fun clear() {
        val runners = kept.values.toList()
        kept.clear()
        refused.clear()
        var first: Exception? = null
        for (r in runners) {
            try {
                r.close()
            } catch (e: Exception) {
                if (first == null) first = e
            }
        }
        if (first != null) throw first
    }
}
