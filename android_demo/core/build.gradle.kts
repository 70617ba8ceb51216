// The app's pure Kotlin/JVM core: manifest, tiling, strength, pixels, benchmark results (no android.* imports).
// Built here by android_demo/core/test.sh with Debian's kotlinc; in Android Studio by Gradle as a plain JVM module.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    toolchain { languageVersion.set(JavaLanguageVersion.of(17)) }
}

dependencies {
    implementation(libs.gson)
    testImplementation(libs.junit)
}

tasks.test {
    // The golden vectors written by the Python package (`invdn golden`), at the repository root.
    systemProperty("invdn.golden", rootProject.layout.projectDirectory.dir("../golden").asFile.absolutePath)
    // The real export manifests the accelerator tests read (src/test/resources/manifests/).
    systemProperty("invdn.fixtures", layout.projectDirectory.dir("src/test/resources").asFile.absolutePath)
    System.getenv("INVDN_RESULTS_OUT")?.let { systemProperty("invdn.results.out", it) }
    testLogging { showStandardStreams = true }
}
