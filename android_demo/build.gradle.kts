// The Android demo of invdn-mobile: `app` (Compose UI, LiteRT runtime glue) on `core` (pure Kotlin, tested on a JVM).
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.kotlin.android) apply false
    alias(libs.plugins.kotlin.jvm) apply false
    alias(libs.plugins.kotlin.compose) apply false
}
