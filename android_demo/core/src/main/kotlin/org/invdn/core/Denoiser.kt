package org.invdn.core

/**
 * Runs the artifact on one tile: [input] holds 3 x tile x tile float32 values in [0, 1] in the artifact's layout
 * (NHWC for TFLite), the result has as many values in the same layout. The app implements it with LiteRT; the tests
 * replay a real artifact's recorded outputs.
 */
interface TileRunner {
    fun run(input: FloatArray): FloatArray
}

/** What [Denoiser.run] did: the estimated noise sigma (8-bit levels; NaN when not needed), the strength, the tiles. */
data class DenoiseResult(val sigma: Float, val strength: Double, val tiles: Int)

/**
 * The whole photo through one artifact, as `invdn denoise` does it: sigma and strength (the manifest's curve, or a
 * fixed value), the tile plan of the manifest's tiling, every tile through the [TileRunner], the streaming feathered
 * blend, the strength blend. Finished rows go to `onRows(y0, rows, values)` (values: rows x width x 3 float, before
 * clipping; [Pixels.toRgba] makes 8-bit of them) as soon as no later tile touches them: memory is one band of tile
 * rows, never a float copy of the photo.
 */
class Denoiser(val artifact: Artifact) {
    init {
        if (!artifact.runnable) throw InvdnException("${artifact.file}: needs one float32 image input and output (constant z) and a passed gate")
    }

    fun plan(height: Int, width: Int): TilePlan =
        Tiling.plan(height, width, artifact.tiling.tile, artifact.tiling.overlap, artifact.tiling.multiple)

    /**
     * Denoise [image]. [fixedStrength]: null for the manifest's curve (1, the model alone, when it has none), else a
     * value in [0, 1]. [onTile] gets (tiles done, tiles in all) after each tile; [isCancelled] is asked before each
     * tile and stops the run with a [CancelledException].
     */
    @JvmOverloads
    fun run(
        image: PixelSource,
        runner: TileRunner,
        fixedStrength: Double? = null,
        onRows: (Int, Int, FloatArray) -> Unit,
        onTile: (Int, Int) -> Unit = { _, _ -> },
        isCancelled: () -> Boolean = { false }
    ): DenoiseResult {
        if (fixedStrength != null && !(fixedStrength >= 0.0 && fixedStrength <= 1.0)) {
            throw InvdnException("strength must be from 0 to 1, got $fixedStrength")
        }
        val curve = artifact.strength
        val sigma = if (fixedStrength == null && curve != null) Strength.estimateSigma(image) else Float.NaN
        val strength = fixedStrength ?: curve?.at(sigma.toDouble()) ?: 1.0
        val p = plan(image.height, image.width)
        val blender = Blender(p, Artifact.CHANNELS, artifact.layout) { y0, rows, values ->
            Strength.blendRows(image, y0, rows, values, strength)
            onRows(y0, rows, values)
        }
        val tile = FloatArray(artifact.tileValues)
        for (k in 0 until p.size) {
            if (isCancelled()) throw CancelledException()
            Pixels.extractTile(image, p.tile, p.y(k), p.x(k), artifact.layout, tile)
            val out = runner.run(tile)
            if (out.size != artifact.tileValues) {
                throw InvdnException("${artifact.file}: the runtime returned ${out.size} values for a tile, expected ${artifact.tileValues}")
            }
            blender.add(k, out)
            onTile(k + 1, p.size)
        }
        return DenoiseResult(sigma, strength, p.size)
    }
}

/** A row sink that collects the 8-bit result: opaque RGBA bytes of the upright [height] x [width] photo. */
class Rgba8Collector(val height: Int, val width: Int) {
    val data = ByteArray(height * width * 4)

    fun rows(y0: Int, rows: Int, values: FloatArray) = Pixels.toRgba(values, rows, width, data, y0 * width * 4)
}
