package org.invdn.core

import com.google.gson.GsonBuilder
import com.google.gson.JsonArray
import com.google.gson.JsonNull
import com.google.gson.JsonObject
import java.io.File
import java.time.Instant
import java.time.temporal.ChronoUnit

// Benchmark mode: warm-up and timed runs of whole synthetic photos through the core (tiles + blend, as the schema's
// latency is defined) per artifact x accelerator x size, and the one results document of
// benchmarks/schema/results.schema.json (`invdn bench ingest` adds it to the report).

/** The phone, as the schema's "machine" object. */
data class Machine(
    val name: String,
    val kind: String,
    val cpu: String,
    val cores: Int,
    val gpu: String?,
    val os: String,
    val deviceModel: String,
    val libraries: Map<String, String>
)

/** A photo size, height x width. */
data class PhotoSize(val height: Int, val width: Int) {
    override fun toString(): String = "${height}x$width"
}

/** An artifact as the app bundles it: the export recipe (folder) it came from and its manifest entry. */
data class BundledArtifact(val target: String, val artifact: Artifact)

/**
 * What benchmark mode runs, from the text of the `benchmark` intent extra or the benchmark screen:
 * `key=value` pairs separated by `;` -- models (precisions or artifact files, or "all"), accelerators (gpu-fp16,
 * gpu-fp32, cpu, npu), sizes (N or HxW), warmup, repeats, threads (CPU), machine (the results' machine name).
 * For example `models=fp32,fp16;accelerators=gpu-fp16,cpu;sizes=256,3000x4000;repeats=10`.
 */
data class BenchmarkSpec(
    val models: List<String> = listOf("all"),
    val accelerators: List<AcceleratorChoice> = AcceleratorChoice.values().toList(),
    val sizes: List<PhotoSize> = listOf(PhotoSize(256, 256), PhotoSize(1024, 1024), PhotoSize(3000, 4000)),
    val warmup: Int = 2,
    val repeats: Int = 5,
    val threads: Int? = null,
    val machine: String? = null
) {
    /**
     * The plan: the cases, model x accelerator x size, of the [bundled] artifacts this spec selects (runnable ones
     * only). An accelerator the artifact's manifest does not list is a case with [BenchCase.skip] set (a "skipped" row
     * with the reason, never a missing row).
     */
    fun cases(bundled: List<BundledArtifact>): List<BenchCase> {
        val chosen = bundled.filter { b ->
            b.artifact.runnable && ("all" in models || b.artifact.precision in models || b.artifact.file in models)
        }
        if (chosen.isEmpty()) throw InvdnException("models=${models.joinToString(",")}: no bundled artifact matches")
        val out = ArrayList<BenchCase>()
        for (b in chosen) for (acc in accelerators) for (size in sizes) {
            val offered = Accelerators.offered(b.artifact)
            val skip = if (acc in offered) null else "${acc.label} is not listed for this file in its manifest (${b.artifact.accelerators?.joinToString(", ") ?: "no accelerators"})"
            out.add(BenchCase(b.artifact, b.target, acc.backend, acc.device, if (acc == AcceleratorChoice.CPU) threads else null, size.height, size.width, skip))
        }
        return out
    }

    companion object {
        @JvmStatic
        fun parse(text: String): BenchmarkSpec {
            var spec = BenchmarkSpec()
            for (part in text.split(';').map { it.trim() }.filter { it.isNotEmpty() }) {
                val eq = part.indexOf('=')
                if (eq < 1) throw InvdnException("benchmark: '$part' is not key=value")
                val key = part.substring(0, eq).trim()
                val value = part.substring(eq + 1).trim()
                val items = value.split(',').map { it.trim() }.filter { it.isNotEmpty() }
                if (items.isEmpty()) throw InvdnException("benchmark: $key is empty")
                spec = when (key) {
                    "models" -> spec.copy(models = items)
                    "accelerators" -> spec.copy(accelerators = items.map {
                        AcceleratorChoice.find(it)
                            ?: throw InvdnException("benchmark: unknown accelerator '$it' (${AcceleratorChoice.values().joinToString(", ") { a -> a.key }})")
                    })
                    "sizes" -> spec.copy(sizes = items.map { size(it) })
                    "warmup" -> spec.copy(warmup = count(key, value, 0))
                    "repeats" -> spec.copy(repeats = count(key, value, 1))
                    "threads" -> spec.copy(threads = count(key, value, 1))
                    "machine" -> spec.copy(machine = value)
                    else -> throw InvdnException("benchmark: unknown key '$key' (models, accelerators, sizes, warmup, repeats, threads, machine)")
                }
            }
            return spec
        }

        private fun count(key: String, value: String, min: Int): Int {
            val n = value.toIntOrNull()
            if (n == null || n < min) throw InvdnException("benchmark: $key must be a whole number >= $min, got '$value'")
            return n
        }

        private fun size(text: String): PhotoSize {
            val parts = text.split('x')
            val dims = parts.map { it.toIntOrNull() }
            if (parts.size > 2 || dims.any { it == null || it < 1 }) throw InvdnException("benchmark: size '$text' is not N or HxW")
            return if (dims.size == 1) PhotoSize(dims[0]!!, dims[0]!!) else PhotoSize(dims[0]!!, dims[1]!!)
        }
    }
}

/**
 * One measurement to make: [artifact] on [backend] ("litert-gpu-fp16", "litert-xnnpack", "litert-npu") at [height] x
 * [width]; [skip]: why it is not run (a "skipped" row).
 */
data class BenchCase(
    val artifact: Artifact,
    val target: String?,
    val backend: String,
    val device: String,
    val threads: Int?,
    val height: Int,
    val width: Int,
    val skip: String? = null
)

/** One row of the results: a case and its latencies (ms of one whole photo), or why it failed or was skipped. */
data class BenchRow(
    val case: BenchCase,
    val status: String,
    val tiles: Int,
    val timesMs: List<Double> = emptyList(),
    val warmup: Int = 0,
    val error: String? = null
)

object Stats {
    /** numpy's default percentile (linear between closest ranks) of sorted [values], [q] in [0, 1]. */
    @JvmStatic
    fun quantile(sorted: List<Double>, q: Double): Double {
        val pos = (sorted.size - 1) * q
        val lo = Math.floor(pos).toInt()
        val hi = Math.ceil(pos).toInt()
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
    }

    @JvmStatic
    fun round3(v: Double): Double = Math.round(v * 1000.0) / 1000.0
}

/** Runs the cases. [open] makes the case's runner (it may throw: the row is then "failed" with the reason). */
class Benchmark(private val warmup: Int, private val repeats: Int) {
    init {
        if (warmup < 0 || repeats < 1) throw InvdnException("benchmark needs warmup >= 0 and repeats >= 1")
    }

    @JvmOverloads
    fun run(
        cases: List<BenchCase>,
        open: (BenchCase) -> TileRunner,
        log: (String) -> Unit = {},
        isCancelled: () -> Boolean = { false },
        clock: () -> Long = { System.nanoTime() }
    ): List<BenchRow> = cases.map { case ->
        val denoiser = Denoiser(case.artifact)
        val tiles = denoiser.plan(case.height, case.width).size
        val label = "${case.backend} ${case.artifact.file} ${case.height}x${case.width}"
        if (case.skip != null) {
            log("$label: skipped (${case.skip})")
            return@map BenchRow(case, "skipped", tiles, error = case.skip)
        }
        try {
            val runner = open(case)
            try {
                val image = SyntheticPhoto(case.height, case.width)
                val discard: (Int, Int, FloatArray) -> Unit = { _, _, _ -> }
                for (i in 0 until warmup) denoiser.run(image, runner, 1.0, discard, isCancelled = isCancelled)
                val times = ArrayList<Double>()
                for (i in 0 until repeats) {
                    val started = clock()
                    denoiser.run(image, runner, 1.0, discard, isCancelled = isCancelled)
                    times.add((clock() - started) / 1e6)
                }
                log("$label: median ${"%.1f".format(Stats.quantile(times.sorted(), 0.5))} ms ($tiles tiles)")
                BenchRow(case, "ok", tiles, times, warmup)
            } finally {
                (runner as? AutoCloseable)?.close()
            }
        } catch (e: CancelledException) {
            throw e
        } catch (e: Throwable) { // an IOException, a runtime refusal, an OutOfMemoryError: a failed row, not a crash
            if (e is Error && e !is OutOfMemoryError) throw e
            val why = (e.message ?: e.javaClass.simpleName).lines().first()
            log("$label: failed ($why)")
            BenchRow(case, "failed", tiles, error = why)
        }
    }
}

/**
 * A deterministic photo-like image in [0, 1] (smooth gradients plus hashed noise), computed per pixel when read:
 * no pixel memory, whatever its size (a 12 MP float copy per benchmark case would be 144 MB).
 */
class SyntheticPhoto(override val height: Int, override val width: Int, private val seed: Int = 12345) : PixelSource {
    override fun value(y: Int, x: Int, c: Int): Float {
        var h = (y * 73856093) xor (x * 19349663) xor (c * 83492791) xor seed
        h = h xor (h ushr 16)
        h *= -2048144789 // 0x85ebca6b
        h = h xor (h ushr 13)
        val noise = ((h ushr 8) / 16777216.0 - 0.5) * 0.2
        val base = 0.5 + 0.3 * Math.sin(x * (c + 1) / 37.0 + y / 53.0)
        return Math.min(1.0, Math.max(0.0, base + noise)).toFloat()
    }
}

/** The results document of benchmarks/schema/results.schema.json (schema_version 1, source "android_demo"). */
object Results {
    const val SCHEMA_VERSION = 1
    const val SOURCE = "android_demo"

    /** A machine label the schema accepts (letters, digits, `.`, `_`, `-`; 64 at most), e.g. "Pixel 8a" -> "Pixel-8a". */
    @JvmStatic
    fun machineName(raw: String): String {
        val cleaned = raw.trim().replace(Regex("[^A-Za-z0-9._-]+"), "-").trim('-', '.', '_')
        return (if (cleaned.isEmpty()) "android" else cleaned).take(64)
    }

    /** ISO 8601 UTC, whole seconds: 2026-11-26T10:15:00Z. */
    @JvmStatic
    fun isoDate(epochMillis: Long): String = Instant.ofEpochMilli(epochMillis).truncatedTo(ChronoUnit.SECONDS).toString()

    @JvmStatic
    fun toJson(date: String, machine: Machine, rows: List<BenchRow>): String {
        val doc = JsonObject()
        doc.addProperty("schema_version", SCHEMA_VERSION)
        doc.addProperty("source", SOURCE)
        doc.addProperty("date", date)
        doc.add("machine", machineJson(machine))
        val list = JsonArray()
        for (row in rows) list.add(rowJson(row, rows))
        doc.add("rows", list)
        return GsonBuilder().serializeNulls().disableHtmlEscaping().setPrettyPrinting().create().toJson(doc) + "\n"
    }

    /** Write [text] to [file] atomically (a temporary file beside it, then a rename): never a half-written file. */
    @JvmStatic
    fun write(file: File, text: String) {
        val dir = file.absoluteFile.parentFile
        if (!dir.isDirectory && !dir.mkdirs()) throw InvdnException("$dir: cannot create the folder")
        val tmp = File.createTempFile(".${file.name}.", ".part", dir)
        try {
            tmp.writeText(text)
            if (!tmp.renameTo(file)) throw InvdnException("$file: cannot write")
        } finally {
            tmp.delete()
        }
    }

    private fun machineJson(m: Machine): JsonObject {
        val o = JsonObject()
        o.addProperty("name", machineName(m.name))
        o.addProperty("kind", m.kind)
        o.addProperty("cpu", if (m.cpu.isBlank()) "unknown" else m.cpu)
        o.addProperty("cores", Math.max(1, m.cores))
        if (m.gpu == null) o.add("gpu", JsonNull.INSTANCE) else o.addProperty("gpu", m.gpu)
        o.addProperty("os", m.os)
        o.addProperty("device_model", m.deviceModel)
        val libs = JsonObject()
        for ((k, v) in m.libraries) libs.addProperty(k, v)
        o.add("libraries", libs)
        return o
    }

    private fun median(row: BenchRow): Double? =
        if (row.status == "ok" && row.timesMs.isNotEmpty()) Stats.quantile(row.timesMs.sorted(), 0.5) else null

    private fun rowJson(row: BenchRow, all: List<BenchRow>): JsonObject {
        val c = row.case
        val a = c.artifact
        val o = JsonObject()
        o.addProperty("backend", c.backend)
        o.addProperty("format", a.format)
        o.addProperty("precision", a.precision)
        o.addProperty("variant", a.variant)
        o.addProperty("artifact", a.file)
        if (c.target == null) o.add("target", JsonNull.INSTANCE) else o.addProperty("target", c.target)
        o.addProperty("device", c.device)
        o.addProperty("size", "${c.height}x${c.width}")
        o.addProperty("height", c.height)
        o.addProperty("width", c.width)
        o.addProperty("tiles", row.tiles)
        o.addProperty("tile", a.tile)
        o.addProperty("status", row.status)
        if (row.error != null) o.addProperty("error", row.error)
        val sorted = row.timesMs.sorted()
        val med = median(row)
        val macs = a.macs.graph?.let { it * row.tiles }
        number(o, "median_ms", med?.let { Stats.round3(it) })
        number(o, "p90_ms", if (med == null) null else Stats.round3(Stats.quantile(sorted, 0.9)))
        number(o, "min_ms", if (med == null) null else Stats.round3(sorted[0]))
        if (med != null) {
            o.addProperty("repeats", sorted.size)
            o.addProperty("warmup", row.warmup)
        }
        if (c.threads == null) o.add("threads", JsonNull.INSTANCE) else o.addProperty("threads", c.threads)
        o.addProperty("batch", 1)
        o.add("speedup_vs_torch_eager", JsonNull.INSTANCE) // no PyTorch on a phone
        val fp32 = all.firstOrNull {
            it.case.backend == c.backend && it.case.height == c.height && it.case.width == c.width &&
                it.case.artifact.precision == "fp32" && median(it) != null
        }?.let { median(it) }
        number(o, "speedup_vs_fp32", if (med != null && fp32 != null && med > 0) Stats.round3(fp32 / med) else null)
        if (macs == null) o.add("macs", JsonNull.INSTANCE) else o.addProperty("macs", macs)
        number(o, "gmacs_per_s", if (med != null && macs != null && med > 0) Stats.round3(macs / 1e9 / (med / 1000.0)) else null)
        o.addProperty("bytes", a.bytes)
        return o
    }

    private fun number(o: JsonObject, key: String, v: Double?) {
        if (v == null || v.isNaN() || v.isInfinite()) o.add(key, JsonNull.INSTANCE) else o.addProperty(key, v)
    }
}
