// The app's pure Kotlin/JVM core: manifest, tiling, strength, pixels, benchmark results (no android.* imports).
// Built here by android_demo/core/test.sh with Debian's kotlinc; in Android Studio by Gradle as a plain JVM module.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

// Bytecode for Java 17 from whatever JDK runs Gradle (17 or newer: Android Studio's bundled JBR 21 included); no
// toolchain to resolve or download.
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
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
