package org.invdn.demo

import android.content.res.AssetManager
import java.io.IOException
import java.util.concurrent.Executors
import kotlinx.coroutines.asCoroutineDispatcher
import org.invdn.core.BundledArtifact
import org.invdn.core.InvdnException
import org.invdn.core.Manifest

/** The one thread every LiteRT call runs on (a GPU accelerator's context belongs to the thread that made it). */
object LiteRtThread {
    val dispatcher = Executors.newSingleThreadExecutor { r -> Thread(r, "litert") }.asCoroutineDispatcher()
}

/** A bundled artifact and where it is in the assets. */
data class Model(val bundled: BundledArtifact, val assetPath: String) {
    val label: String
        get() = "${bundled.artifact.precision.uppercase()} (${bundled.target}, tile ${bundled.artifact.tile})"
}

/**
 * The models the build bundled (app/build.gradle.kts `copyModels`): assets/models/<target>/manifest.json and the
 * runnable (constant-z, gate passed) artifacts it lists that are present.
 */
object ModelStore {
    private const val ROOT = "models"

    /** Every bundled model, and one line per manifest that could not be used. */
    fun load(assets: AssetManager): Pair<List<Model>, List<String>> {
        val models = ArrayList<Model>()
        val problems = ArrayList<String>()
        val targets = try {
            assets.list(ROOT)?.sorted() ?: emptyList()
        } catch (e: IOException) {
            emptyList()
        }
        for (target in targets) {
            val path = "$ROOT/$target/manifest.json"
            try {
                val text = assets.open(path).use { it.readBytes().toString(Charsets.UTF_8) }
                val present = assets.list("$ROOT/$target")?.toSet() ?: emptySet()
                for (artifact in Manifest.parse(text, path).runnable()) {
                    if (artifact.file in present) models.add(Model(BundledArtifact(target, artifact), "$ROOT/$target/${artifact.file}"))
                }
            } catch (e: InvdnException) {
                problems.add(e.message ?: path)
            } catch (e: IOException) {
                problems.add("$path: cannot read (${e.message})")
            }
        }
        return models to problems
    }
}
