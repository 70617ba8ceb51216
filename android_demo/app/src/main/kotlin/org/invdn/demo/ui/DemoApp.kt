package org.invdn.demo.ui

import android.Manifest
import android.content.ActivityNotFoundException
import android.content.pm.PackageManager
import android.net.Uri
import android.os.Build
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.selection.selectable
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.RadioButton
import androidx.compose.material3.Slider
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.platform.LocalView
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.unit.dp
import androidx.core.content.ContextCompat
import androidx.core.content.FileProvider
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import java.io.File
import org.invdn.core.AcceleratorChoice
import org.invdn.core.Accelerators
import org.invdn.demo.BenchmarkMode
import org.invdn.demo.DemoViewModel
import org.invdn.demo.Settings
import org.invdn.demo.UiState

private enum class Screen(val title: String) { Photo("Photo"), Settings("Settings"), Benchmark("Benchmark") }

@Composable
fun DemoApp(model: DemoViewModel) {
    val state by model.state.collectAsStateWithLifecycle()
    var screen by rememberSaveable { mutableStateOf(Screen.Photo) }
    LaunchedEffect(state.benchmarkRunning) { if (state.benchmarkRunning) screen = Screen.Benchmark }
    // the screen stays on while a photo is denoised or a benchmark runs (FLAG_KEEP_SCREEN_ON through the view)
    val view = LocalView.current
    val busy = state.running || state.benchmarkRunning
    DisposableEffect(busy) {
        view.keepScreenOn = busy
        onDispose { view.keepScreenOn = false }
    }
    Surface(Modifier.fillMaxSize()) {
        Column(Modifier.safeDrawingPadding()) {
            Row(Modifier.fillMaxWidth(), horizontalArrangement = Arrangement.SpaceEvenly) {
                for (s in Screen.values()) {
                    TextButton(onClick = { screen = s }, enabled = s != screen) { Text(s.title) }
                }
            }
            when (screen) {
                Screen.Photo -> PhotoScreen(state, model)
                Screen.Settings -> SettingsScreen(state, model::updateSettings)
                Screen.Benchmark -> BenchmarkScreen(state, model)
            }
        }
    }
}

@Composable
private fun PhotoScreen(state: UiState, model: DemoViewModel) {
    val context = LocalContext.current
    var cameraUri by rememberSaveable { mutableStateOf<Uri?>(null) }
    val pick = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri -> if (uri != null) model.open(uri) }
    val take = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { ok ->
        val uri = cameraUri
        if (ok && uri != null) model.open(uri)
    }
    val storage = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { granted -> if (granted) model.save() }

    Column(Modifier.fillMaxSize().padding(8.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Button(enabled = !state.running, onClick = {
                pick.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
            }) { Text("Pick") }
            Button(enabled = !state.running, onClick = {
                val file = File(context.cacheDir, "camera/photo-${System.currentTimeMillis()}.jpg")
                file.parentFile?.mkdirs()
                val uri = FileProvider.getUriForFile(context, "${context.packageName}.files", file)
                cameraUri = uri
                try {
                    take.launch(uri)
                } catch (e: ActivityNotFoundException) { // no camera app (emulators, some tablets, work profiles)
                    model.report("No camera app on this device: pick a photo instead.")
                }
            }) { Text("Camera") }
            if (state.running) {
                OutlinedButton(onClick = model::cancel) { Text("Cancel") }
            } else if (state.before != null) {
                OutlinedButton(onClick = model::denoise) { Text("Denoise") }
            }
            if (state.after != null && !state.running) {
                OutlinedButton(onClick = {
                    val needsPermission = Build.VERSION.SDK_INT < 29 &&
                        ContextCompat.checkSelfPermission(context, Manifest.permission.WRITE_EXTERNAL_STORAGE) != PackageManager.PERMISSION_GRANTED
                    if (needsPermission) storage.launch(Manifest.permission.WRITE_EXTERNAL_STORAGE) else model.save()
                }) { Text("Save") }
            }
        }
        if (state.running) LinearProgressIndicator(progress = { state.progress }, modifier = Modifier.fillMaxWidth())
        if (state.status.isNotEmpty()) Text(state.status, style = MaterialTheme.typography.bodyMedium)
        state.error?.let { Text(it, color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodyMedium) }
        state.downscale?.let { sample ->
            OutlinedButton(onClick = { model.downscale(sample) }) { Text("Denoise at 1/$sample size instead") }
        }
        Box(Modifier.weight(1f).fillMaxWidth()) {
            val before = state.before
            if (before != null) {
                BeforeAfter(before, state.after, Modifier.fillMaxSize())
            } else {
                Text("Pick a photo or take one: it is denoised at full resolution on this phone.", Modifier.align(Alignment.Center))
            }
        }
    }
}

@Composable
private fun Choice(label: String, selected: Boolean, onSelect: () -> Unit) {
    Row(
        Modifier.fillMaxWidth().selectable(selected = selected, onClick = onSelect).padding(vertical = 4.dp),
        verticalAlignment = Alignment.CenterVertically
    ) {
        RadioButton(selected = selected, onClick = onSelect)
        Text(label)
    }
}

@Composable
private fun SettingsScreen(state: UiState, update: (Settings) -> Unit) {
    val s = state.settings
    Column(Modifier.fillMaxSize().padding(16.dp).verticalScroll(rememberScrollState())) {
        Text("Model", style = MaterialTheme.typography.titleMedium)
        if (state.models.isEmpty()) Text("None bundled: run `invdn export all` from the repository root, then rebuild.")
        state.models.forEachIndexed { i, m -> Choice(m.label, s.model == i) { update(s.copy(model = i)) } }
        if (state.skipped.isNotEmpty()) {
            Text("Not offered", style = MaterialTheme.typography.titleSmall, modifier = Modifier.padding(top = 8.dp))
            for (skip in state.skipped) Text(skip.toString(), style = MaterialTheme.typography.bodySmall)
        }

        Text("Accelerator", style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(top = 16.dp))
        // only what the chosen model's manifest lists (int8dyn: the CPU only; the NPU files: CPU and NPU)
        val offered = state.models.getOrNull(s.model)?.let { Accelerators.offered(it.bundled.artifact) } ?: emptyList()
        for (a in offered) Choice(a.label, s.accelerator == a) { update(s.copy(accelerator = a)) }
        if (s.accelerator == AcceleratorChoice.CPU) {
            Text("CPU threads: ${s.threads}")
            Slider(value = s.threads.toFloat(), onValueChange = { update(s.copy(threads = it.toInt())) }, valueRange = 1f..8f, steps = 6)
        } else {
            Text("A GPU or NPU that refuses the model falls back to the CPU (the status line says so).", style = MaterialTheme.typography.bodySmall)
        }

        Text("Strength", style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(top = 16.dp))
        Choice("Auto: the model's calibrated curve at the photo's noise level", s.strength == null) { update(s.copy(strength = null)) }
        Choice("Fixed", s.strength != null) { update(s.copy(strength = s.strength ?: 1.0)) }
        s.strength?.let { value ->
            Text("Keep %.2f of the model's change (1: the model alone)".format(value))
            Slider(value = value.toFloat(), onValueChange = { update(s.copy(strength = it.toDouble())) }, valueRange = 0f..1f)
        }
    }
}

@Composable
private fun BenchmarkScreen(state: UiState, model: DemoViewModel) {
    var spec by rememberSaveable { mutableStateOf("sizes=256,1024,3000x4000;repeats=5;warmup=2") }
    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(
            "Every bundled model x accelerator x size: warm-up, then timed whole-photo runs. Keys: models, " +
                "accelerators (gpu-fp16, gpu-fp32, cpu, npu), sizes (N or HxW), warmup, repeats, threads, machine. " +
                "From adb: am start -n org.invdn.demo/.MainActivity --es ${BenchmarkMode.EXTRA} \"…\"",
            style = MaterialTheme.typography.bodySmall
        )
        OutlinedTextField(value = spec, onValueChange = { spec = it }, label = { Text("benchmark") }, modifier = Modifier.fillMaxWidth())
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Button(enabled = !state.benchmarkRunning && !state.running, onClick = { model.benchmark(spec) }) { Text("Run") }
            if (state.benchmarkRunning) OutlinedButton(onClick = model::cancel) { Text("Cancel") }
        }
        LazyColumn(Modifier.weight(1f).fillMaxWidth()) {
            items(state.benchmarkLog) { line -> Text(line, fontFamily = FontFamily.Monospace, style = MaterialTheme.typography.bodySmall) }
        }
    }
}
