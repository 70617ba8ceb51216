package org.invdn.demo

import android.content.Context
import android.opengl.EGL14
import android.opengl.EGLConfig
import android.opengl.GLES20
import android.os.Build
import android.util.Log
import java.io.File
import org.invdn.core.AcceleratorChoice
import org.invdn.core.Benchmark
import org.invdn.core.BenchmarkSpec
import org.invdn.core.Int8IoRunner
import org.invdn.core.Machine
import org.invdn.core.Results

/**
 * Benchmark mode, from the benchmark screen or unattended from adb:
 *
 *     adb shell am start -n org.invdn.demo/.MainActivity --es benchmark "sizes=256,3000x4000;repeats=10"
 *
 * Every selected model x accelerator x size: warm-up runs, then timed runs of a whole synthetic photo through the
 * core (all tiles, LiteRT run + read-back, the blend); an accelerator the artifact's manifest does not list is a
 * "skipped" row, one that refuses the model a "failed" row with the reason. One results document (benchmarks/schema/results.schema.json)
 * goes to the app's external files: Android/data/org.invdn.demo/files/benchmarks/<machine>-<date>.json, logged
 * under the tag [TAG] when written.
 */
object BenchmarkMode {
    const val TAG = "InvdnBenchmark"
    const val EXTRA = "benchmark"

    /** Run [spec] over the bundled [models] (on the LiteRT thread); returns the results file. */
    fun run(context: Context, spec: BenchmarkSpec, models: List<Model>, log: (String) -> Unit, isCancelled: () -> Boolean): File {
        val say = { line: String ->
            Log.i(TAG, line)
            log(line)
        }
        val byArtifact = models.associateBy { it.bundled.artifact }
        val cases = spec.cases(models.map { it.bundled })
        say("${cases.size} cases: warm-up ${spec.warmup}, repeats ${spec.repeats}")
        val rows = Benchmark(spec.warmup, spec.repeats).run(cases, { case ->
            val model = byArtifact.getValue(case.artifact)
            val choice = AcceleratorChoice.values().first { it.backend == case.backend }
            // no fallback here: a refusal (an NPU without its vendor libraries...) is a failed row with the reason,
            // where the photo screen would run on the CPU; closed by the benchmark after the case
            val runner = LiteRtRunner.compile(LiteRtEnvironment.get(context), context.assets, model.assetPath, choice, case.threads)
            if (case.artifact.int8Io) Int8IoRunner(case.artifact, runner) else runner
        }, say, isCancelled)
        val machine = machine(context, spec.machine)
        val date = Results.isoDate(System.currentTimeMillis())
        val dir = context.getExternalFilesDir("benchmarks") ?: File(context.filesDir, "benchmarks")
        val file = File(dir, "${Results.machineName(machine.name)}-${date.substring(0, 10)}-${date.substring(11, 19).replace(":", "")}.json")
        Results.write(file, Results.toJson(date, machine, rows))
        say("wrote ${file.absolutePath}")
        return file
    }

    /** The phone's facts for the results' "machine". */
    fun machine(context: Context, name: String?): Machine {
        val soc = if (Build.VERSION.SDK_INT >= 31) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}".trim() else ""
        val tablet = context.resources.configuration.smallestScreenWidthDp >= 600
        return Machine(
            name = name ?: Build.MODEL,
            kind = if (tablet) "tablet" else "phone",
            cpu = soc.ifEmpty { Build.HARDWARE },
            cores = Runtime.getRuntime().availableProcessors(),
            gpu = glRenderer(),
            os = "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})",
            deviceModel = "${Build.MANUFACTURER} ${Build.MODEL}",
            libraries = mapOf("litert" to BuildConfig.LITERT_VERSION, "app" to BuildConfig.VERSION_NAME)
        )
    }

    /** The GPU's name (GL_RENDERER) from a throwaway 1x1 OpenGL ES context; null when there is none. */
    private fun glRenderer(): String? {
        val display = EGL14.eglGetDisplay(EGL14.EGL_DEFAULT_DISPLAY)
        if (display == EGL14.EGL_NO_DISPLAY) return null
        val version = IntArray(2)
        if (!EGL14.eglInitialize(display, version, 0, version, 1)) return null
        try {
            val attributes = intArrayOf(
                EGL14.EGL_RENDERABLE_TYPE, EGL14.EGL_OPENGL_ES2_BIT,
                EGL14.EGL_SURFACE_TYPE, EGL14.EGL_PBUFFER_BIT,
                EGL14.EGL_NONE
            )
            val configs = arrayOfNulls<EGLConfig>(1)
            val count = IntArray(1)
            if (!EGL14.eglChooseConfig(display, attributes, 0, configs, 0, 1, count, 0) || count[0] == 0) return null
            val context = EGL14.eglCreateContext(display, configs[0], EGL14.EGL_NO_CONTEXT, intArrayOf(EGL14.EGL_CONTEXT_CLIENT_VERSION, 2, EGL14.EGL_NONE), 0)
            val surface = EGL14.eglCreatePbufferSurface(display, configs[0], intArrayOf(EGL14.EGL_WIDTH, 1, EGL14.EGL_HEIGHT, 1, EGL14.EGL_NONE), 0)
            try {
                if (!EGL14.eglMakeCurrent(display, surface, surface, context)) return null
                return GLES20.glGetString(GLES20.GL_RENDERER)
            } finally {
                EGL14.eglMakeCurrent(display, EGL14.EGL_NO_SURFACE, EGL14.EGL_NO_SURFACE, EGL14.EGL_NO_CONTEXT)
                EGL14.eglDestroySurface(display, surface)
                EGL14.eglDestroyContext(display, context)
            }
        } finally {
            EGL14.eglTerminate(display)
        }
    }
}
