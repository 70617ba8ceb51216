// The demo app: Compose UI and LiteRT CompiledModel glue around :core. Models come from the Android recipes' export
// output (`invdn export android-cpu-fp32` etc. write export/out/<target>/); `copyModels` copies them into the
// generated assets at build time, so the repository never holds them twice.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "org.invdn.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.invdn.demo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    buildFeatures {
        compose = true
        buildConfig = true
    }
    androidResources {
        noCompress += "tflite" // LiteRT maps the model from the APK
    }
    sourceSets["main"].assets.srcDir(layout.buildDirectory.dir("generated/invdn-assets"))
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

// The export recipes whose artifacts the app bundles (invdn_mobile/export/targets/android-*.toml): every Android recipe
// of `invdn export all`, the NPU files included. `-Pinvdn.targets=android-cpu-fp32,...` bundles a subset.
val androidTargets = (findProperty("invdn.targets") as String?)?.split(',')?.map { it.trim() }?.filter { it.isNotEmpty() }
    ?: listOf("android-cpu-fp32", "android-gpu-fp16", "android-int8w", "android-cpu-int8dyn")
// The INT8 recipes with calibrated activations and the NPU ones (android-cpu-int8, android-npu-int8-s16,
// android-npu-int8-s16-io, ...) miss the worst-case INT8 gate on the stress photos and are not in `invdn export all`
// (docs/int8.md); to try them anyway:
// `invdn export android-npu-int8-s16` (its manifest says `fail`) and -Pinvdn.targets=android-cpu-fp32,android-npu-int8-s16
val exportOut = rootProject.layout.projectDirectory.dir("../export/out")

// Missing models fail the build here, at configuration time, with the command that makes them (an Android Studio
// sync only warns, so the project still opens from a fresh clone; `:core:` tasks alone need no models).
val missingExports = androidTargets.filter { !exportOut.dir(it).file("manifest.json").asFile.isFile }
if (missingExports.isNotEmpty()) {
    val line = "invdn: no export of ${missingExports.joinToString(", ")} in ${exportOut.asFile}: run `invdn export all` " +
        "(or `invdn export <recipe>` for each) from the repository root, then build again"
    val tasks = gradle.startParameter.taskNames
    val syncing = System.getProperty("idea.sync.active") == "true"
    if (syncing || (tasks.isNotEmpty() && tasks.all { it.startsWith(":core:") || it.startsWith("core:") })) {
        logger.warn("warning: $line")
    } else {
        throw GradleException(line)
    }
}

val copyModels by tasks.registering(Sync::class) {
    description = "Copies the Android recipes' export output (constant-z .tflite files + manifest.json) into assets/models/<target>/."
    into(layout.buildDirectory.dir("generated/invdn-assets"))
    for (target in androidTargets) {
        from(exportOut.dir(target)) {
            include("*.tflite", "manifest.json")
            exclude("*-zin.tflite") // the app feeds no z input: constant-z artifacts only (the app lists the rest as skipped)
            into("models/$target")
        }
    }
}
tasks.named("preBuild") { dependsOn(copyModels) }

dependencies {
    implementation(project(":core"))
    implementation(libs.litert)
    implementation(libs.litert.gpu)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.foundation)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
    debugImplementation(libs.compose.ui.tooling)
    implementation(libs.activity.compose)
    implementation(libs.lifecycle.viewmodel.compose)
    implementation(libs.lifecycle.runtime.compose)
    implementation(libs.core.ktx)
    implementation(libs.exifinterface)
    implementation(libs.coroutines.android)
}
