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

// The export recipes whose artifacts the app bundles (invdn_mobile/export/targets/android-*.toml).
val androidTargets = listOf("android-cpu-fp32", "android-gpu-fp16", "android-cpu-int8", "android-cpu-int8dyn")
val exportOut = rootProject.layout.projectDirectory.dir("../export/out")

val copyModels by tasks.registering(Sync::class) {
    description = "Copies the Android recipes' export output (constant-z .tflite files + manifest.json) into assets/models/<target>/."
    into(layout.buildDirectory.dir("generated/invdn-assets"))
    for (target in androidTargets) {
        from(exportOut.dir(target)) {
            include("*.tflite", "manifest.json")
            exclude("*-zin.tflite") // the app feeds no z input: constant-z artifacts only
            into("models/$target")
        }
    }
    doLast {
        val found = androidTargets.filter { exportOut.dir(it).file("manifest.json").asFile.isFile }
        if (found.isEmpty()) {
            logger.warn("copyModels: no export in ${exportOut.asFile}: run `invdn export android-cpu-fp32` (and the other android-* recipes) first; the app will list no models")
        } else {
            logger.lifecycle("copyModels: bundled ${found.joinToString()}")
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
