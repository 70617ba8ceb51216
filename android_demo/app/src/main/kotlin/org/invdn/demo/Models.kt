package org.invdn.demo

import android.content.res.AssetManager
import java.io.IOException
import java.util.concurrent.Executors
import kotlinx.coroutines.asCoroutineDispatcher
import org.invdn.core.BundleFolder
import org.invdn.core.BundledArtifact
import org.invdn.core.Catalog
import org.invdn.core.Skipped

/** The one thread every LiteRT call runs on (a GPU accelerator's context belongs to the thread that made it). */
object LiteRtThread {
    val dispatcher = Executors.newSingleThreadExecutor { r -> Thread(r, "litert") }.asCoroutineDispatcher()
}

/** A bundled artifact and where it is in the assets. */
data class Model(val bundled: BundledArtifact, val assetPath: String) {
    val label: String
        get() {
            val a = bundled.artifact
            val io = if (a.int8Io) ", int8 I/O" else ""
            return "${a.precision.uppercase()} (${bundled.target}, tile ${a.tile}$io)"
        }
}

/**
 * The models the build bundled (app/build.gradle.kts `copyModels`: assets/models/<target>/manifest.json and the files
 * beside it), through the core's [Catalog]: the offered ones, and every skipped one with its reason.
 */
object ModelStore {
    private const val ROOT = "models"

    fun load(assets: AssetManager): Pair<List<Model>, List<Skipped>> {
        val folders = ArrayList<BundleFolder>()
        val unreadable = ArrayList<Skipped>()
        val targets = try {
            assets.list(ROOT)?.toList() ?: emptyList()
        } catch (e: IOException) {
            emptyList()
        }
        for (target in targets) {
            try {
                val text = assets.open("$ROOT/$target/manifest.json").use { it.readBytes().toString(Charsets.UTF_8) }
                folders.add(BundleFolder(target, text, assets.list("$ROOT/$target")?.toSet() ?: emptySet()))
            } catch (e: IOException) {
                unreadable.add(Skipped(target, "manifest.json", "cannot read (${e.message})"))
            }
        }
        val catalog = Catalog.of(folders)
        return catalog.offered.map { Model(it, "$ROOT/${it.target}/${it.artifact.file}") } to unreadable + catalog.skipped
    }
}
