package org.invdn.demo

import android.app.Application
import android.graphics.Bitmap
import android.net.Uri
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.invdn.core.AcceleratorChoice
import org.invdn.core.BenchmarkSpec
import org.invdn.core.CancelledException
import org.invdn.core.Denoiser
import org.invdn.core.InvdnException
import org.invdn.core.Rgba8Collector

/** What the user chose in the settings. [strength]: null for the model's calibrated curve ("auto"), else fixed. */
data class Settings(
    val model: Int = 0,
    val accelerator: AcceleratorChoice = AcceleratorChoice.GPU_FP16,
    val threads: Int = 4,
    val strength: Double? = null
)

data class UiState(
    val models: List<Model> = emptyList(),
    val modelProblems: List<String> = emptyList(),
    val settings: Settings = Settings(),
    val before: Bitmap? = null,
    val after: Bitmap? = null,
    val photoSize: String = "",
    val running: Boolean = false,
    val progress: Float = 0f,
    val status: String = "",
    val error: String? = null,
    val saved: Uri? = null,
    val benchmarkLog: List<String> = emptyList(),
    val benchmarkRunning: Boolean = false
)

/**
 * The app's state and work. Denoising and benchmarks run on the LiteRT thread, off the main thread, with progress
 * after every tile; cancelling the job stops between two tiles.
 */
class DemoViewModel(app: Application) : AndroidViewModel(app) {
    private val _state = MutableStateFlow(UiState())
    val state: StateFlow<UiState> = _state.asStateFlow()

    private var photo: PickedPhoto? = null
    private var result: ByteArray? = null
    private var job: Job? = null

    init {
        val (models, problems) = ModelStore.load(app.assets)
        _state.update {
            it.copy(
                models = models,
                modelProblems = problems,
                status = if (models.isEmpty()) "No models bundled: run `invdn export android-cpu-fp32` and rebuild." else "Pick or take a photo."
            )
        }
    }

    fun updateSettings(settings: Settings) = _state.update { it.copy(settings = settings) }

    fun open(uri: Uri) {
        if (_state.value.running) return
        job = viewModelScope.launch {
            _state.update { it.copy(error = null, status = "Reading the photo…", after = null, saved = null) }
            try {
                val picked = withContext(Dispatchers.IO) { PhotoIo.read(getApplication<Application>().contentResolver, uri) }
                val image = picked.image
                val before = withContext(Dispatchers.Default) {
                    PhotoIo.bitmap(image.uprightRgba(), image.height, image.width, PhotoIo.displayStep(image.height, image.width))
                }
                photo = picked
                result = null
                _state.update {
                    it.copy(before = before, photoSize = "${image.width} x ${image.height}", status = "Ready: ${image.width} x ${image.height}.")
                }
                denoise()
            } catch (e: InvdnException) {
                _state.update { it.copy(error = e.message, status = "") }
            }
        }
    }

    fun denoise() {
        val picked = photo ?: return
        val s = _state.value
        val model = s.models.getOrNull(s.settings.model) ?: run {
            _state.update { it.copy(error = "No model bundled with this build.") }
            return
        }
        job = viewModelScope.launch {
            _state.update { it.copy(running = true, progress = 0f, error = null, saved = null, status = "Denoising…") }
            try {
                val started = System.nanoTime()
                val (summary, note) = withContext(LiteRtThread.dispatcher) {
                    val context = coroutineContext
                    val (runner, note) = LiteRtRunner.compileWithFallback(getApplication<Application>().assets, model.assetPath, s.settings.accelerator, s.settings.threads)
                    runner.use {
                        val image = picked.image
                        val out = Rgba8Collector(image.height, image.width)
                        val r = Denoiser(model.bundled.artifact).run(
                            image, runner, s.settings.strength,
                            onRows = { y0, rows, values -> out.rows(y0, rows, values) },
                            onTile = { done, total -> _state.update { st -> st.copy(progress = done.toFloat() / total) } },
                            isCancelled = { !context.isActive }
                        )
                        result = out.data
                        Triple(r, runner.accelerator, out.data) to note
                    }
                }
                val (r, used, rgba) = summary
                val image = picked.image
                val after = withContext(Dispatchers.Default) {
                    PhotoIo.bitmap(rgba, image.height, image.width, PhotoIo.displayStep(image.height, image.width))
                }
                val seconds = (System.nanoTime() - started) / 1e9
                val sigma = if (r.sigma.isNaN()) "" else "noise sigma %.1f, ".format(r.sigma)
                _state.update {
                    it.copy(
                        after = after,
                        running = false,
                        status = "${model.label} on ${used.label}: ${r.tiles} tiles in %.1f s; ${sigma}strength %.2f.".format(seconds, r.strength),
                        error = note
                    )
                }
            } catch (e: CancelledException) {
                _state.update { it.copy(running = false, status = "Cancelled.") }
            } catch (e: kotlinx.coroutines.CancellationException) {
                _state.update { it.copy(running = false, status = "Cancelled.") }
                throw e
            } catch (e: Exception) {
                _state.update { it.copy(running = false, status = "", error = "Denoising failed: ${e.message}") }
            }
        }
    }

    fun cancel() {
        job?.cancel()
    }

    fun save() {
        val picked = photo ?: return
        val rgba = result ?: return
        viewModelScope.launch {
            try {
                val name = "invdn-" + System.currentTimeMillis() + ".jpg"
                val uri = withContext(Dispatchers.IO) { PhotoIo.save(getApplication<Application>().contentResolver, picked, rgba, name) }
                _state.update { it.copy(saved = uri, status = "Saved to Pictures/InvDN/$name.") }
            } catch (e: InvdnException) {
                _state.update { it.copy(error = e.message) }
            }
        }
    }

    /** Run benchmark mode with the spec text (the intent extra or the benchmark screen's field). */
    fun benchmark(specText: String) {
        if (_state.value.benchmarkRunning || _state.value.running) return
        job = viewModelScope.launch {
            _state.update { it.copy(benchmarkRunning = true, benchmarkLog = listOf("benchmark: $specText")) }
            val log = { line: String -> _state.update { it.copy(benchmarkLog = it.benchmarkLog + line) } }
            try {
                val spec = BenchmarkSpec.parse(specText)
                withContext(LiteRtThread.dispatcher) {
                    val context = coroutineContext
                    BenchmarkMode.run(getApplication<Application>(), spec, _state.value.models, log) { !context.isActive }
                }
            } catch (e: InvdnException) {
                log("error: ${e.message}")
            } catch (e: kotlinx.coroutines.CancellationException) {
                log("cancelled")
                throw e
            } finally {
                _state.update { it.copy(benchmarkRunning = false) }
            }
        }
    }
}
