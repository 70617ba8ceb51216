package org.invdn.demo

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.invdn.core.AcceleratorChoice
import org.invdn.core.Accelerators
import org.invdn.core.BenchmarkSpec
import org.invdn.core.CancelledException
import org.invdn.core.Int8IoRunner
import org.invdn.core.InvdnException
import org.invdn.core.MemoryBudget
import org.invdn.core.Phase
import org.invdn.core.PhotoRun
import org.invdn.core.PhotoTooLargeException
import org.invdn.core.RunnerCache
import org.invdn.core.Skipped
import org.invdn.core.TileRunner
import org.invdn.core.WholePhoto

/** What the user chose in the settings. [strength]: null for the model's calibrated curve ("auto"), else fixed. */
data class Settings(
    val model: Int = 0,
    val accelerator: AcceleratorChoice = AcceleratorChoice.GPU_FP16,
    val threads: Int = 4,
    val strength: Double? = null
)

data class UiState(
    val models: List<Model> = emptyList(),
    val skipped: List<Skipped> = emptyList(),
    val settings: Settings = Settings(),
    val phase: Phase = Phase.EMPTY,
    val before: Bitmap? = null,
    val after: Bitmap? = null,
    val photoSize: String = "",
    val progress: Float = 0f,
    val status: String = "",
    val error: String? = null,
    /** The downscale (2: half size...) offered when the photo does not fit in memory; null: none. */
    val downscale: Int? = null,
    val saved: Uri? = null,
    val benchmarkLog: List<String> = emptyList(),
    val benchmarkRunning: Boolean = false
) {
    val running: Boolean
        get() = phase == Phase.LOADING || phase == Phase.DENOISING || phase == Phase.SAVING
}

/**
 * The app's state and work, on the core's [PhotoRun] (one run id: a late result never lands on another photo) and
 * [RunnerCache] (each model compiled once per accelerator, closed in [onCleared]). Denoising runs on the LiteRT
 * thread through the core's whole-photo path (bands in, bands out, memory checked first). Every entry point catches
 * Throwable: an OutOfMemoryError or a runtime failure is a message, not a crash.
 */
class DemoViewModel(app: Application) : AndroidViewModel(app) {
    private val _state = MutableStateFlow(UiState())
    val state: StateFlow<UiState> = _state.asStateFlow()

    private val run = PhotoRun<PickedPhoto, Bitmap>()
    private val runners = RunnerCache(capacity = 2) { key ->
        LiteRtRunner.compile(LiteRtEnvironment.get(app), app.assets, key.model, key.accelerator, key.threads)
    }
    private var job: Job? = null
    private val queuedBenchmarks = ArrayList<String>()

    init {
        val (models, skipped) = ModelStore.load(app.assets)
        _state.update {
            it.copy(
                models = models,
                skipped = skipped,
                settings = it.settings.copy(accelerator = models.firstOrNull()?.let { m -> Accelerators.offered(m.bundled.artifact).first() } ?: AcceleratorChoice.CPU),
                status = if (models.isEmpty()) "No models bundled: run `invdn export all` and rebuild." else "Pick or take a photo."
            )
        }
    }

    /** Mirror the state machine into the UI state, with [change] on top. */
    private fun publish(change: (UiState) -> UiState = { it }) {
        val snap = run.snapshot()
        _state.update { change(it.copy(phase = snap.phase, progress = snap.progress, error = snap.error ?: it.error)) }
    }

    private fun problem(e: Throwable): String = when (e) {
        is InvdnException -> e.message ?: "failed"
        is OutOfMemoryError -> "out of memory: try a smaller photo or the downscale"
        else -> "${e.javaClass.simpleName}: ${e.message ?: ""}".trim().lines().first()
    }

    fun updateSettings(settings: Settings) {
        val model = _state.value.models.getOrNull(settings.model)
        // only accelerators the model's manifest lists are offered: a model change picks its first one
        val offered = model?.let { Accelerators.offered(it.bundled.artifact) } ?: emptyList()
        val fixed = if (offered.isEmpty() || settings.accelerator in offered) settings else settings.copy(accelerator = offered.first())
        _state.update { it.copy(settings = fixed) }
    }

    /** Something the UI could not do (no camera app...), as an error line. */
    fun report(message: String) = _state.update { it.copy(error = message) }

    fun open(uri: Uri) {
        job?.cancel()
        val id = run.load()
        publish { it.copy(error = null, status = "Reading the photo…", before = null, after = null, saved = null, downscale = null) }
        job = viewModelScope.launch {
            try {
                val resolver = getApplication<Application>().contentResolver
                val (picked, before) = withContext(Dispatchers.IO) {
                    val p = PhotoIo.read(resolver, uri)
                    p to PhotoIo.preview(resolver, p)
                }
                if (!run.loaded(id, picked)) return@launch // another photo was picked meanwhile
                publish { it.copy(before = before, photoSize = "${picked.width} x ${picked.height}", status = "Ready: ${picked.width} x ${picked.height}.") }
                denoise()
            } catch (e: CancellationException) {
                throw e
            } catch (e: Throwable) {
                if (run.failed(id, problem(e))) publish { it.copy(status = "") }
            }
        }
    }

    /** Denoise again at 1/[sample] size (offered when the full photo does not fit in memory). */
    fun downscale(sample: Int) {
        val photo = run.photo ?: return
        val id = run.load()
        run.loaded(id, photo.copy(sample = sample))
        publish { it.copy(downscale = null, photoSize = "${photo.copy(sample = sample).width} x ${photo.copy(sample = sample).height}") }
        denoise()
    }

    fun denoise() {
        val s = _state.value
        val model = s.models.getOrNull(s.settings.model) ?: return report("No model bundled with this build.")
        val id = run.denoise() ?: return
        val photo = run.photo ?: return
        publish { it.copy(error = null, saved = null, downscale = null, status = "Denoising…") }
        job = viewModelScope.launch {
            try {
                val started = System.nanoTime()
                val artifact = model.bundled.artifact
                val (result, opened, bitmap) = withContext(LiteRtThread.dispatcher) {
                    val context = coroutineContext
                    val opened = runners.open(artifact, model.assetPath, s.settings.accelerator, s.settings.threads)
                    // the cache owns the compiled runner: the int8 wrapper is not closed here
                    val tiles: TileRunner = if (artifact.int8Io) Int8IoRunner(artifact, opened.runner) else opened.runner
                    PhotoIo.RegionDecoder(getApplication<Application>().contentResolver, photo).use { decoder ->
                        val encoder = PhotoIo.BitmapEncoder(photo.height, photo.width)
                        try {
                            val r = WholePhoto(artifact, bandRows = 64).run(
                                decoder, tiles, encoder, s.settings.strength, MemoryBudget.ofRuntime(),
                                onTile = { done, total -> if (run.progress(id, done, total)) publish() },
                                isCancelled = { !context.isActive || run.runId != id }
                            )
                            Triple(r, opened, encoder.bitmap)
                        } catch (e: Throwable) {
                            encoder.bitmap.recycle()
                            throw e
                        }
                    }
                }
                val before = _state.value.before
                val after = withContext(Dispatchers.Default) { if (before == null) bitmap else PhotoIo.preview(bitmap, before) }
                if (!run.denoised(id, bitmap)) { // cancelled or overtaken meanwhile: not this photo's result any more
                    bitmap.recycle()
                    return@launch
                }
                val seconds = (System.nanoTime() - started) / 1e9
                val sigma = if (result.sigma.isNaN()) "" else "noise sigma %.1f, ".format(result.sigma)
                publish {
                    it.copy(
                        after = after,
                        status = "${model.label} on ${opened.used.label}: ${result.tiles} tiles in %.1f s; ${sigma}strength %.2f.".format(seconds, result.strength),
                        error = opened.note // the fallback, when there was one
                    )
                }
            } catch (e: CancelledException) {
                publish { it.copy(status = "Cancelled.") }
            } catch (e: CancellationException) {
                publish { it.copy(status = "Cancelled.") }
                throw e
            } catch (e: PhotoTooLargeException) {
                if (run.failed(id, e.message ?: "too large")) publish { it.copy(status = "", downscale = e.sampleSize) }
            } catch (e: Throwable) {
                if (run.failed(id, "Denoising failed: ${problem(e)}")) publish { it.copy(status = "") }
            }
        }
    }

    fun cancel() {
        if (run.cancel()) publish { it.copy(status = "Cancelled.") }
        job?.cancel()
    }

    fun save() {
        val photo = run.photo ?: return
        val bitmap = run.result ?: return
        val id = run.save() ?: return
        publish { it.copy(status = "Saving…") }
        viewModelScope.launch {
            try {
                val name = "invdn-" + System.currentTimeMillis() + ".jpg"
                val (uri, where) = withContext(Dispatchers.IO) { PhotoIo.save(getApplication<Application>().contentResolver, photo, bitmap, name) }
                if (run.saved(id)) publish { it.copy(saved = uri, status = "Saved to $where.") }
            } catch (e: Throwable) {
                if (run.failed(id, "Saving failed: ${problem(e)}")) publish()
            }
        }
    }

    /**
     * Run benchmark mode with the spec text (the intent extra or the benchmark screen's field). A request while one
     * runs is queued, not dropped (a second `am start --es benchmark` reaches onNewIntent).
     */
    fun benchmark(specText: String) {
        if (_state.value.benchmarkRunning || _state.value.running) {
            queuedBenchmarks.add(specText)
            _state.update { it.copy(benchmarkLog = it.benchmarkLog + "queued: $specText") }
            return
        }
        job = viewModelScope.launch {
            _state.update { it.copy(benchmarkRunning = true, benchmarkLog = listOf("benchmark: $specText")) }
            val log = { line: String -> _state.update { it.copy(benchmarkLog = it.benchmarkLog + line) } }
            try {
                val spec = BenchmarkSpec.parse(specText)
                withContext(LiteRtThread.dispatcher) {
                    val context = coroutineContext
                    runners.clear() // the benchmark compiles each case itself: free what the photo screen kept
                    BenchmarkMode.run(getApplication<Application>(), spec, _state.value.models, log) { !context.isActive }
                }
            } catch (e: CancellationException) {
                log("cancelled")
                throw e
            } catch (e: Throwable) { // an IOException from the results file, an OutOfMemoryError: logged, not a crash
                log("error: ${problem(e)}")
            } finally {
                _state.update { it.copy(benchmarkRunning = false) }
                if (queuedBenchmarks.isNotEmpty()) benchmark(queuedBenchmarks.removeAt(0))
            }
        }
    }

    override fun onCleared() {
        run.cancel()
        run.result?.recycle()
        runBlocking(LiteRtThread.dispatcher) { // LiteRT objects are closed on the thread that made them
            try {
                runners.clear()
            } finally {
                LiteRtEnvironment.close()
            }
        }
    }
}
