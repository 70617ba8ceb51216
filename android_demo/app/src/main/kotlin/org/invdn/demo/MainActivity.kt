package org.invdn.demo

import android.content.Intent
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.viewModels
import androidx.compose.material3.MaterialTheme
import org.invdn.demo.ui.DemoApp

/**
 * The one activity. Benchmark mode starts unattended when the intent carries the `benchmark` extra:
 *
 *     adb shell am start -n org.invdn.demo/.MainActivity --es benchmark "sizes=256,1024;repeats=10"
 *
 * (an empty value runs the defaults; android_demo/README.md has the keys).
 */
class MainActivity : ComponentActivity() {
    private val model: DemoViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent {
            MaterialTheme {
                DemoApp(model)
            }
        }
        if (savedInstanceState == null) startBenchmarkFrom(intent)
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        startBenchmarkFrom(intent)
    }

    private fun startBenchmarkFrom(intent: Intent?) {
        val spec = intent?.getStringExtra(BenchmarkMode.EXTRA) ?: return
        model.benchmark(spec)
    }
}
