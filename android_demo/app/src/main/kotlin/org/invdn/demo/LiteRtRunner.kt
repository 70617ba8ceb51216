package org.invdn.demo

import android.content.res.AssetManager
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.LiteRtException
import com.google.ai.edge.litert.TensorBuffer
import org.invdn.core.AcceleratorChoice
import org.invdn.core.TileRunner

/**
 * One artifact compiled by LiteRT's CompiledModel API on one accelerator: a [TileRunner] for the core.
 *
 * [run] writes the tile, runs the model and reads the output back; the read-back waits for the GPU (LiteRT's `run`
 * may return before a GPU has finished), so timing [run] times compute and read-back.
 * LiteRT calls must stay on one thread: the caller owns a single-thread dispatcher for it (see [LiteRtThread]).
 */
class LiteRtRunner private constructor(
    private val env: Environment,
    private val model: CompiledModel,
    val accelerator: AcceleratorChoice
) : TileRunner, AutoCloseable {
    private val inputs: List<TensorBuffer> = model.createInputBuffers()
    private val outputs: List<TensorBuffer> = model.createOutputBuffers()

    override fun run(input: FloatArray): FloatArray {
        inputs[0].writeFloat(input)
        model.run(inputs, outputs)
        return outputs[0].readFloat()
    }

    override fun close() {
        inputs.forEach { it.close() }
        outputs.forEach { it.close() }
        model.close()
        env.close()
    }

    companion object {
        /**
         * Compile `assets/[assetPath]` for [choice] ([threads]: CPU threads, null for LiteRT's default). Only the
         * requested accelerator is passed to LiteRT: with GPU and CPU both listed LiteRT may quietly run on the CPU
         * while the app reports the GPU. Throws [LiteRtException] when the accelerator refuses the model.
         */
        fun compile(assets: AssetManager, assetPath: String, choice: AcceleratorChoice, threads: Int?): LiteRtRunner {
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
            }
            val env = Environment.create()
            try {
                return LiteRtRunner(env, CompiledModel.create(assets, assetPath, options, env), choice)
            } catch (e: Exception) {
                env.close()
                throw e
            }
        }

        /**
         * [compile] on [choice], falling back to the CPU when a GPU choice fails; the second value says why it fell
         * back (null when it did not), for the user to see.
         */
        fun compileWithFallback(assets: AssetManager, assetPath: String, choice: AcceleratorChoice, threads: Int?): Pair<LiteRtRunner, String?> {
            if (choice == AcceleratorChoice.CPU) return compile(assets, assetPath, choice, threads) to null
            return try {
                compile(assets, assetPath, choice, threads) to null
            } catch (e: LiteRtException) {
                compile(assets, assetPath, AcceleratorChoice.CPU, threads) to "${choice.label} unavailable (${e.message}): running on the CPU"
            }
        }
    }
}
