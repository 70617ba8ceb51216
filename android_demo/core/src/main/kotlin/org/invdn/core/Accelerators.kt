package org.invdn.core

// Which LiteRT accelerators the app offers for an artifact, and where it falls back: read from the manifest entry's
// "accelerators" (written by the exporter from the recipe: invdn_mobile/export/targets.py Target.accelerators), never
// guessed from the file name or the precision. An entry without the list (an export older than the field) is skipped
// with that reason.

/** How the app runs an artifact: LiteRT's GPU at FP16 or FP32 precision, its CPU (XNNPACK), or the phone's NPU. */
enum class AcceleratorChoice(val key: String, val backend: String, val device: String, val label: String) {
    GPU_FP16("gpu-fp16", "litert-gpu-fp16", "gpu", "GPU FP16"),
    GPU_FP32("gpu-fp32", "litert-gpu-fp32", "gpu", "GPU FP32"),
    CPU("cpu", "litert-xnnpack", "cpu", "CPU"),
    NPU("npu", "litert-npu", "npu", "NPU");

    /** The manifest's name of the accelerator (gpu, cpu, npu). */
    val accelerator: String
        get() = device

    companion object {
        /** The choice called [key] (gpu-fp16, gpu-fp32, cpu, npu), or null. */
        @JvmStatic
        fun find(key: String): AcceleratorChoice? = values().firstOrNull { it.key == key }
    }
}

object Accelerators {
    /** The accelerator names a manifest may list. */
    val NAMES = listOf("cpu", "gpu", "npu")

    @JvmStatic
    fun find(name: String): String? = NAMES.firstOrNull { it == name }

    /** Why [artifact] is not offered at all (not runnable, or no accelerator list in its manifest entry), or null. */
    @JvmStatic
    fun problem(artifact: Artifact): String? = artifact.problem
        ?: if (artifact.accelerators == null) "its manifest entry lists no accelerators (exported by an older invdn: export it again)" else null

    /** The choices offered for [artifact], in the order the app shows them (empty when [problem] is not null). */
    @JvmStatic
    fun offered(artifact: Artifact): List<AcceleratorChoice> {
        if (problem(artifact) != null) return emptyList()
        val listed = artifact.accelerators!!
        return AcceleratorChoice.values().filter { it.accelerator in listed }
    }

    /**
     * The choices to try, in order, when the user asked for [wanted] on [artifact]: [wanted] itself when offered,
     * then the CPU (which every manifest lists). A choice the manifest does not list is not tried at all: the first
     * offered one is used instead (the caller reports [note]).
     */
    @JvmStatic
    fun order(artifact: Artifact, wanted: AcceleratorChoice): List<AcceleratorChoice> {
        val offered = offered(artifact)
        if (offered.isEmpty()) throw InvdnException("${artifact.file}: ${problem(artifact)}")
        val first = if (wanted in offered) wanted else offered.first()
        return if (first == AcceleratorChoice.CPU) listOf(first) else listOf(first, AcceleratorChoice.CPU)
    }

    /** What to tell the user when [wanted] is not offered for [artifact] (null when it is). */
    @JvmStatic
    fun note(artifact: Artifact, wanted: AcceleratorChoice): String? {
        val offered = offered(artifact)
        if (wanted in offered || offered.isEmpty()) return null
        return "${wanted.label} is not offered for ${artifact.file} (its manifest lists ${artifact.accelerators!!.joinToString(", ")}): using ${offered.first().label}"
    }
}

/** A bundled artifact the app offers, or one it skips and why. */
data class Skipped(val target: String, val file: String, val reason: String) {
    override fun toString(): String = "$target/$file: $reason"
}

/** What the app bundles: every offered artifact and every skipped one with its reason (shown in Settings). */
class Catalog(val offered: List<BundledArtifact>, val skipped: List<Skipped>) {
    companion object {
        /**
         * The catalog of the bundled export folders: per target, its manifest text (null: unreadable, with [errors])
         * and the files present beside it. A malformed manifest skips the whole folder with the parser's message.
         */
        @JvmStatic
        fun of(folders: List<BundleFolder>): Catalog {
            val offered = ArrayList<BundledArtifact>()
            val skipped = ArrayList<Skipped>()
            for (f in folders.sortedBy { it.target }) {
                val manifest = try {
                    Manifest.parse(f.manifestText, "${f.target}/manifest.json")
                } catch (e: ManifestException) {
                    skipped.add(Skipped(f.target, "manifest.json", e.message ?: "unreadable"))
                    continue
                }
                for (a in manifest.artifacts) {
                    val why = Accelerators.problem(a) ?: if (a.file !in f.files) "not bundled (missing from the export folder)" else null
                    if (why == null) offered.add(BundledArtifact(f.target, a)) else skipped.add(Skipped(f.target, a.file, why))
                }
            }
            return Catalog(offered, skipped)
        }
    }
}

/** One bundled export folder: recipe [target], the text of its manifest.json, the file names beside it. */
data class BundleFolder(val target: String, val manifestText: String, val files: Set<String>)
