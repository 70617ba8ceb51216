package org.invdn.core

import com.google.gson.Gson
import com.google.gson.JsonArray
import com.google.gson.JsonElement
import com.google.gson.JsonObject
import com.google.gson.JsonParseException
import com.google.gson.stream.JsonReader
import java.io.IOException
import java.io.StringReader
import java.math.BigDecimal

// The export manifest (`manifest.json` beside the artifacts, written by invdn_mobile/export/run.py `describe` and
// `write_manifest`): one data class per JSON object the app needs. Parsing checks every field it reads and the
// contract markers this core implements (padding, window, strength estimator, optional "version"); anything else is
// one ManifestException naming the file and the field, never an error deep in the tiler.

/** Tensor layout of an artifact's input and output: NHWC (TFLite) or NCHW (ONNX, Core ML). */
enum class Layout {
    NHWC,
    NCHW;

    /** Index of channel [c] of pixel ([i], [j]) in a 1 x [tile] x [tile] tensor of [channels] channels. */
    fun index(tile: Int, channels: Int, i: Int, j: Int, c: Int): Int =
        if (this == NHWC) (i * tile + j) * channels + c else (c * tile + i) * tile + j
}

/**
 * One input or output: [dtype] float32, or int8 with the [scale] and [zeroPoint] of its codes (value = scale x (code -
 * zeroPoint); the Android int8-I/O files: code = 8-bit pixel - 128).
 */
data class TensorSpec(
    val name: String,
    val shape: List<Int>,
    val dtype: String,
    val scale: Double? = null,
    val zeroPoint: Int? = null
)

/** The manifest's "tiling": how to reproduce invdn_mobile/tiling.py for this artifact. */
data class TilingSpec(val tile: Int, val overlap: Int, val multiple: Int, val padding: String, val window: String)

/** The manifest's "z": the seeded noise latent baked into the artifact (or fed to a `-zin` twin). */
data class ZSpec(val seed: Long, val scale: Double, val shape: List<Int>, val asInput: Boolean)

/** Multiply-accumulates of one tile: counted on the exported graph, and by PyTorch. */
data class Macs(val graph: Long?, val torchDenoiser: Long?)

/** The export's parity gate verdict. */
data class Gate(val passed: Boolean, val failures: List<String>)

/** One artifact of the export (one entry of "artifacts"). */
data class Artifact(
    val file: String,
    val format: String,
    val precision: String,
    val tile: Int,
    val layout: Layout,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val normalization: String,
    val tiling: TilingSpec,
    val z: ZSpec,
    val variant: String,
    val params: Long,
    val macs: Macs,
    val bytes: Long,
    val sha256: String,
    val strength: StrengthCurve?,
    val gate: Gate?,
    val accelerators: List<String>? = null
) {
    /** Values in one input (and one output) tile: 3 x tile x tile. */
    val tileValues: Int
        get() = CHANNELS * tile * tile

    /** Whether input and output are int8 codes (quantized with their scale and zero point), not float32. */
    val int8Io: Boolean
        get() = inputs[0].dtype == "int8"

    /**
     * Why an app cannot run it with one image in and out, or null: a second (z) input, an image type other than float32
     * or int8 with its scale and zero point, a failed parity gate.
     */
    val problem: String?
        get() {
            val input = inputs[0]
            val output = outputs[0]
            return when {
                file.endsWith(".rejected") || gate?.passed == false -> "failed its parity gate"
                inputs.size != 1 -> "takes z as a second input (the app feeds none: use the constant-z file)"
                outputs.size != 1 -> "has ${outputs.size} outputs"
                input.dtype != output.dtype -> "input ${input.dtype} and output ${output.dtype} differ"
                input.dtype == "int8" && (input.scale == null || input.zeroPoint == null || output.scale == null || output.zeroPoint == null) ->
                    "int8 image without scale and zero point"
                input.dtype != "float32" && input.dtype != "int8" -> "image type ${input.dtype} (the app runs float32 or int8)"
                else -> null
            }
        }

    /** Whether an app can run it with one image in and out (constant z, float32 or int8 I/O, gate not failed). */
    val runnable: Boolean
        get() = problem == null

    companion object {
        const val CHANNELS = 3
    }
}

data class Manifest(val artifacts: List<Artifact>) {
    /** The artifacts an app can run ([Artifact.runnable]), in file order. */
    fun runnable(): List<Artifact> = artifacts.filter { it.runnable }

    companion object {
        /** The manifest contract version this core implements (an optional top-level "version"). */
        const val VERSION = 1
        const val PADDING = "symmetric"
        const val WINDOW = "linear-feather"

        /** Parse and check the text of a manifest.json; [source] names it in errors. */
        @JvmStatic
        fun parse(text: String, source: String = "manifest.json"): Manifest = ManifestReader(source).manifest(text)
    }
}

/** Reads one manifest, with the JSON path of every field in its errors. */
private class ManifestReader(private val source: String) {

    fun fail(path: String, why: String): ManifestException = ManifestException("$source: $path: $why")

    fun manifest(text: String): Manifest {
        val root = obj(strictJson(text), "(top level)")
        val version = root.get("version")
        if (version != null && !version.isJsonNull) {
            val v = integer(version, "version")
            if (v != Manifest.VERSION.toLong()) {
                throw fail("version", "$v is not ${Manifest.VERSION} (written by a newer invdn-mobile? update the app)")
            }
        }
        val list = array(root.get("artifacts"), "artifacts")
        if (list.size() == 0) throw fail("artifacts", "no artifacts")
        return Manifest(list.mapIndexed { i, e -> artifact(obj(e, "artifacts[$i]"), "artifacts[$i]") })
    }

    private fun strictJson(text: String): JsonElement {
        try {
            val reader = JsonReader(StringReader(text)) // strict (not lenient) by default
            val element = Gson().getAdapter(JsonElement::class.java).read(reader)
            reader.peek() // strict: anything but whitespace after the document is a syntax error
            return element
        } catch (e: JsonParseException) {
            throw fail("(top level)", "not valid JSON (${e.message})")
        } catch (e: IOException) {
            throw fail("(top level)", "not valid JSON (${e.message})")
        } catch (e: IllegalStateException) {
            throw fail("(top level)", "not valid JSON (${e.message})")
        }
    }

    private fun artifact(o: JsonObject, path: String): Artifact {
        val tileList = ints(o.get("tile"), "$path.tile")
        if (tileList.size != 2 || tileList[0] != tileList[1] || tileList[0] < 1) {
            throw fail("$path.tile", "must be [T, T] with T >= 1, got $tileList")
        }
        val tile = tileList[0]
        val layout = when (val name = string(o.get("layout"), "$path.layout")) {
            "NHWC" -> Layout.NHWC
            "NCHW" -> Layout.NCHW
            else -> throw fail("$path.layout", "unknown layout '$name' (NHWC or NCHW)")
        }
        val inputs = tensors(o.get("inputs"), "$path.inputs")
        val outputs = tensors(o.get("outputs"), "$path.outputs")
        val image = if (layout == Layout.NHWC) listOf(1, tile, tile, 3) else listOf(1, 3, tile, tile)
        for ((what, list) in listOf("inputs" to inputs, "outputs" to outputs)) {
            val first = list[0]
            if ((first.dtype == "float32" || first.dtype == "int8") && first.shape != image) {
                throw fail("$path.$what[0].shape", "${first.shape} does not match tile $tile in $layout ($image)")
            }
        }
        val tiling = tiling(obj(o.get("tiling"), "$path.tiling"), "$path.tiling")
        if (tiling.tile != tile) throw fail("$path.tiling.tile", "${tiling.tile} differs from the artifact's tile $tile")
        val strength = o.get("strength")
        return Artifact(
            file = string(o.get("file"), "$path.file"),
            format = string(o.get("format"), "$path.format"),
            precision = string(o.get("precision"), "$path.precision"),
            tile = tile,
            layout = layout,
            inputs = inputs,
            outputs = outputs,
            normalization = string(o.get("normalization"), "$path.normalization"),
            tiling = tiling,
            z = z(obj(o.get("z"), "$path.z"), "$path.z"),
            variant = string(o.get("variant"), "$path.variant"),
            params = integer(o.get("params"), "$path.params"),
            macs = macs(obj(o.get("macs"), "$path.macs"), "$path.macs"),
            bytes = integer(o.get("bytes"), "$path.bytes"),
            sha256 = string(o.get("sha256"), "$path.sha256"),
            strength = if (strength == null || strength.isJsonNull) null else curve(obj(strength, "$path.strength"), "$path.strength"),
            gate = o.get("gate")?.let { if (it.isJsonNull) null else gate(obj(it, "$path.gate"), "$path.gate") },
            accelerators = o.get("accelerators")?.let { if (it.isJsonNull) null else accelerators(it, "$path.accelerators") }
        )
    }

    private fun tensors(e: JsonElement?, path: String): List<TensorSpec> {
        val list = array(e, path)
        if (list.size() == 0) throw fail(path, "empty")
        return list.mapIndexed { i, t ->
            val o = obj(t, "$path[$i]")
            val scale = o.get("scale")?.let { if (it.isJsonNull) null else number(it, "$path[$i].scale") }
            if (scale != null && !(scale > 0.0)) throw fail("$path[$i].scale", "must be > 0, got $scale")
            val zero = o.get("zero_point")?.let { if (it.isJsonNull) null else integer(it, "$path[$i].zero_point") }
            if (zero != null && (zero < -128 || zero > 127)) throw fail("$path[$i].zero_point", "must be an int8 value, got $zero")
            TensorSpec(
                string(o.get("name"), "$path[$i].name"), ints(o.get("shape"), "$path[$i].shape"),
                string(o.get("dtype"), "$path[$i].dtype"), scale, zero?.toInt()
            )
        }
    }

    private fun accelerators(e: JsonElement, path: String): List<String> {
        val names = array(e, path).mapIndexed { i, v -> string(v, "$path[$i]") }
        val unknown = names.filter { Accelerators.find(it) == null }
        if (unknown.isNotEmpty()) throw fail(path, "unknown accelerator(s) $unknown (this app knows ${Accelerators.NAMES})")
        if ("cpu" !in names) throw fail(path, "must include cpu (the fallback of every other), got $names")
        return names
    }

    private fun tiling(o: JsonObject, path: String): TilingSpec {
        val spec = TilingSpec(
            tile = integer(o.get("tile"), "$path.tile").toInt(),
            overlap = integer(o.get("overlap"), "$path.overlap").toInt(),
            multiple = integer(o.get("multiple"), "$path.multiple").toInt(),
            padding = string(o.get("padding"), "$path.padding"),
            window = string(o.get("window"), "$path.window")
        )
        if (spec.padding != Manifest.PADDING) {
            throw fail("$path.padding", "unknown padding '${spec.padding}' (this app implements '${Manifest.PADDING}'; newer export?)")
        }
        if (spec.window != Manifest.WINDOW) {
            throw fail("$path.window", "unknown window '${spec.window}' (this app implements '${Manifest.WINDOW}'; newer export?)")
        }
        if (spec.multiple < 1 || spec.tile % spec.multiple != 0) {
            throw fail("$path.multiple", "tile ${spec.tile} is not a multiple of ${spec.multiple}")
        }
        if (spec.overlap < 0 || spec.overlap >= spec.tile) throw fail("$path.overlap", "must be in [0, tile), got ${spec.overlap}")
        return spec
    }

    private fun z(o: JsonObject, path: String) = ZSpec(
        seed = integer(o.get("seed"), "$path.seed"),
        scale = number(o.get("scale"), "$path.scale"),
        shape = ints(o.get("shape"), "$path.shape"),
        asInput = bool(o.get("as_input"), "$path.as_input")
    )

    private fun macs(o: JsonObject, path: String) =
        Macs(optInteger(o.get("graph"), "$path.graph"), optInteger(o.get("torch_denoiser"), "$path.torch_denoiser"))

    private fun gate(o: JsonObject, path: String): Gate {
        val failures = o.get("failures")
        val list = if (failures == null || failures.isJsonNull) emptyList() else array(failures, "$path.failures").mapIndexed { i, f -> string(f, "$path.failures[$i]") }
        return Gate(bool(o.get("passed"), "$path.passed"), list)
    }

    private fun curve(o: JsonObject, path: String): StrengthCurve {
        val estimator = o.get("estimator")?.let { if (it.isJsonNull) null else string(it, "$path.estimator") } ?: Strength.ESTIMATOR
        if (estimator != Strength.ESTIMATOR) {
            throw fail("$path.estimator", "unknown estimator '$estimator' (this app implements '${Strength.ESTIMATOR}'; newer export?)")
        }
        val xs = numbers(o.get("sigma"), "$path.sigma")
        val ys = numbers(o.get("strength"), "$path.strength")
        if (xs.isEmpty() || xs.size != ys.size) throw fail(path, "sigma and strength must be lists of the same, non-zero length")
        if (xs[0] < 0 || (1 until xs.size).any { xs[it] <= xs[it - 1] }) throw fail("$path.sigma", "must be increasing from >= 0, got $xs")
        if (ys.any { it < 0.0 || it > 1.0 }) throw fail("$path.strength", "values must lie in [0, 1], got $ys")
        return StrengthCurve(xs, ys, estimator)
    }

    // ---- typed access ----

    private fun obj(e: JsonElement?, path: String): JsonObject {
        if (e == null || !e.isJsonObject) throw fail(path, if (e == null) "missing" else "must be an object")
        return e.asJsonObject
    }

    private fun array(e: JsonElement?, path: String): JsonArray {
        if (e == null || !e.isJsonArray) throw fail(path, if (e == null) "missing" else "must be a list")
        return e.asJsonArray
    }

    private fun string(e: JsonElement?, path: String): String {
        if (e == null || !e.isJsonPrimitive || !e.asJsonPrimitive.isString) throw fail(path, if (e == null) "missing" else "must be a string")
        return e.asString
    }

    private fun bool(e: JsonElement?, path: String): Boolean {
        if (e == null || !e.isJsonPrimitive || !e.asJsonPrimitive.isBoolean) throw fail(path, if (e == null) "missing" else "must be true or false")
        return e.asBoolean
    }

    private fun decimal(e: JsonElement?, path: String): BigDecimal {
        if (e == null || !e.isJsonPrimitive || !e.asJsonPrimitive.isNumber) throw fail(path, if (e == null) "missing" else "must be a number")
        try {
            return e.asBigDecimal
        } catch (x: NumberFormatException) {
            throw fail(path, "must be a number")
        }
    }

    private fun number(e: JsonElement?, path: String): Double {
        val v = decimal(e, path).toDouble()
        if (v.isNaN() || v.isInfinite()) throw fail(path, "must be finite")
        return v
    }

    private fun integer(e: JsonElement?, path: String): Long {
        val d = decimal(e, path)
        try {
            return d.longValueExact()
        } catch (x: ArithmeticException) {
            throw fail(path, "must be a whole number, got $d")
        }
    }

    private fun optInteger(e: JsonElement?, path: String): Long? = if (e == null || e.isJsonNull) null else integer(e, path)

    private fun ints(e: JsonElement?, path: String): List<Int> = array(e, path).mapIndexed { i, v ->
        val n = integer(v, "$path[$i]")
        if (n < Int.MIN_VALUE || n > Int.MAX_VALUE) throw fail("$path[$i]", "out of range")
        n.toInt()
    }

    private fun numbers(e: JsonElement?, path: String): List<Double> = array(e, path).mapIndexed { i, v -> number(v, "$path[$i]") }
}
