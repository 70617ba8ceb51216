package org.invdn.demo

import android.content.Context
import android.content.res.AssetManager
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.BuiltinNpuAcceleratorProvider
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.TensorBuffer
import org.invdn.core.AcceleratorChoice
import org.invdn.core.Int8TileRunner
import org.invdn.core.TileRunner

/**
 * One artifact compiled by LiteRT's CompiledModel API on one accelerator. A float32 file runs as a [TileRunner]
 * (`writeFloat` / `readFloat`); an int8-I/O file (the NPU recipes' `-s16-io`) as an [Int8TileRunner]
 * (`writeInt8` / `readInt8`), which the core's `Int8IoRunner` quantizes for with the manifest's scale and zero point.
 *
 * [run] writes the tile, runs the model and reads the output back; the read-back waits for the GPU or NPU (LiteRT's
 * `run` may return before it has finished), so timing [run] times compute and read-back. LiteRT calls stay on one
 * thread ([LiteRtThread]). Closing it closes the model and its buffers, not the shared [LiteRtEnvironment].
 */
class LiteRtRunner private constructor(private val model: CompiledModel, val accelerator: AcceleratorChoice) :
    TileRunner, Int8TileRunner, AutoCloseable {
    private val inputs: List<TensorBuffer> = model.createInputBuffers()
    private val outputs: List<TensorBuffer> = model.createOutputBuffers()

    override fun run(input: FloatArray): FloatArray {
        inputs[0].writeFloat(input)
        model.run(inputs, outputs)
        return outputs[0].readFloat()
    }

    override fun run(input: ByteArray): ByteArray {
        inputs[0].writeInt8(input)
        model.run(inputs, outputs)
        return outputs[0].readInt8()
    }

    override fun close() {
        inputs.forEach { it.close() }
        outputs.forEach { it.close() }
        model.close()
    }

    companion object {
        /**
         * Compile `assets/[assetPath]` for [choice] ([threads]: CPU threads, null for LiteRT's default) in [env]. Only
         * the requested accelerator is passed to LiteRT: with several listed LiteRT may quietly run on the CPU while
         * the app reports another. The NPU compiles just in time with the vendor's compiler plugin and dispatch
         * library (see [LiteRtEnvironment]); throws (LiteRtException) when the accelerator refuses the model, and the
         * core's RunnerCache falls back and says why.
         */
        fun compile(env: Environment, assets: AssetManager, assetPath: String, choice: AcceleratorChoice, threads: Int?): LiteRtRunner {
            val options = when (choice) {
                AcceleratorChoice.GPU_FP16 -> CompiledModel.Options(Accelerator.GPU).apply {
                    gpuOptions = CompiledModel.GpuOptions(precision = CompiledModel.GpuOptions.Precision.FP16)
                }
                AcceleratorChoice.GPU_FP32 -> CompiledModel.Options(Accelerator.GPU).apply {
                    gpuOptions = CompiledModel.GpuOptions(precision = CompiledModel.GpuOptions.Precision.FP32)
                }
                AcceleratorChoice.CPU -> CompiledModel.Options(Accelerator.CPU).apply {
                    cpuOptions = CompiledModel.CpuOptions(numThreads = threads)
                }
                AcceleratorChoice.NPU -> CompiledModel.Options(Accelerator.NPU)
            }
            return LiteRtRunner(CompiledModel.create(assets, assetPath, options, env), choice)
        }
    }
}

/**
 * The app's one LiteRT [Environment], made on first use on the LiteRT thread and closed by the ViewModel's
 * onCleared: with the compiler cache in the app's cache folder (GPU kernels and NPU graphs compiled once per install,
 * not per tap) and the NPU libraries of [BuiltinNpuAcceleratorProvider] (the vendor dispatch and compiler plugin
 * libraries packed as native libraries: android_demo/README.md). On a phone without a supported NPU LiteRT leaves
 * the NPU out and an NPU compile fails: the app falls back to the CPU and says so.
 */
object LiteRtEnvironment {
    private var env: Environment? = null

    fun get(context: Context): Environment =
        env ?: Environment.create(context.applicationContext, BuiltinNpuAcceleratorProvider(context.applicationContext)).also { env = it }

    fun close() {
        env?.close()
        env = null
    }
}
