package org.invdn.demo

import android.content.Intent
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.compose.foundation.isSystemInDarkTheme
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.darkColorScheme
import androidx.compose.material3.lightColorScheme
import org.invdn.demo.ui.DemoApp

/**
 * The one activity (launchMode singleTop in the manifest). Benchmark mode starts unattended when the intent carries
 * the `benchmark` extra:
 *
 *     adb shell am start -n org.invdn.demo/.MainActivity --es benchmark "sizes=256,1024;repeats=10"
 *
 * A second such `am start` while the app is open reaches [onNewIntent] (singleTop) and is queued behind a running
 * benchmark. Edge to edge (the default on Android 15): the system bars' icons follow the theme, light or dark.
 */
class MainActivity : ComponentActivity() {
    private val model: DemoViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        setContent {
            MaterialTheme(colorScheme = if (isSystemInDarkTheme()) darkColorScheme() else lightColorScheme()) {
                DemoApp(model)
            }
        }
        if (savedInstanceState == null) startBenchmarkFrom(intent)
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        setIntent(intent)
        startBenchmarkFrom(intent)
    }

    private fun startBenchmarkFrom(intent: Intent?) {
        val spec = intent?.getStringExtra(BenchmarkMode.EXTRA) ?: return
        intent.removeExtra(BenchmarkMode.EXTRA) // not again on a configuration change
        model.benchmark(spec)
    }
}
