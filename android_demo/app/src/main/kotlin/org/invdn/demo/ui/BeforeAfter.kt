package org.invdn.demo.ui

import android.graphics.Bitmap
import androidx.compose.foundation.Canvas
import androidx.compose.foundation.background
import androidx.compose.foundation.gestures.detectHorizontalDragGestures
import androidx.compose.foundation.gestures.detectTapGestures
import androidx.compose.foundation.gestures.detectTransformGestures
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.BoxWithConstraints
import androidx.compose.foundation.layout.fillMaxHeight
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.offset
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.width
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableFloatStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.draw.clipToBounds
import androidx.compose.ui.geometry.Offset
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.graphics.FilterQuality
import androidx.compose.ui.graphics.ImageBitmap
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.graphics.drawscope.DrawScope
import androidx.compose.ui.graphics.drawscope.clipRect
import androidx.compose.ui.input.pointer.pointerInput
import androidx.compose.ui.platform.LocalDensity
import androidx.compose.ui.unit.IntOffset
import androidx.compose.ui.unit.IntSize
import androidx.compose.ui.unit.dp
import kotlin.math.max
import kotlin.math.min
import kotlin.math.roundToInt

/**
 * The photo before (left of the divider) and after (right), the divider dragged sideways; pinch to zoom from
 * fit-to-screen up to 1:1 (one pixel of the shown bitmap per screen pixel), drag to pan, double-tap to switch
 * between fit and 1:1 at the tapped point. Without [after] the whole view shows [before].
 */
@Composable
fun BeforeAfter(before: Bitmap, after: Bitmap?, modifier: Modifier = Modifier) {
    val beforeImage = remember(before) { before.asImageBitmap() }
    val afterImage = remember(after) { after?.asImageBitmap() }
    var zoom by remember(before) { mutableFloatStateOf(1f) }
    var origin by remember(before) { mutableStateOf<Offset?>(null) } // photo's top-left on screen; null: centred
    var split by remember { mutableFloatStateOf(0.5f) }
    val handle = with(LocalDensity.current) { 48.dp.toPx() }

    BoxWithConstraints(modifier.clipToBounds().background(Color.Black)) {
        val view = IntSize(constraints.maxWidth, constraints.maxHeight)
        val fit = min(view.width.toFloat() / before.width, view.height.toFloat() / before.height)
        val maxZoom = max(1f, 1f / fit)
        val view2 = Offset(view.width.toFloat(), view.height.toFloat())

        // Keep the photo on screen: centred along an axis where it is smaller than the view, else covering it.
        fun clamp(o: Offset, scale: Float): Offset {
            val w = before.width * scale
            val h = before.height * scale
            val x = if (w <= view2.x) (view2.x - w) / 2 else o.x.coerceIn(view2.x - w, 0f)
            val y = if (h <= view2.y) (view2.y - h) / 2 else o.y.coerceIn(view2.y - h, 0f)
            return Offset(x, y)
        }

        // Zoom to [newZoom] keeping the photo point under [anchor] where it is.
        fun zoomAt(anchor: Offset, newZoom: Float) {
            val scale = fit * zoom
            val o = origin ?: clamp(Offset.Zero, scale)
            val point = (anchor - o) / scale
            val z = newZoom.coerceIn(1f, maxZoom)
            origin = clamp(anchor - point * (fit * z), fit * z)
            zoom = z
        }

        Canvas(
            Modifier
                .fillMaxSize()
                .pointerInput(before, maxZoom) {
                    detectTransformGestures { centroid, pan, gestureZoom, _ ->
                        zoomAt(centroid, zoom * gestureZoom)
                        origin = clamp((origin ?: Offset.Zero) + pan, fit * zoom)
                    }
                }
                .pointerInput(before, maxZoom) {
                    detectTapGestures(onDoubleTap = { at -> zoomAt(at, if (zoom < maxZoom) maxZoom else 1f) })
                }
        ) {
            val scale = fit * zoom
            val o = clamp(origin ?: Offset.Zero, scale)
            val x = split * size.width
            clipRect(right = x) { drawPhoto(beforeImage, o, scale) }
            clipRect(left = x) { drawPhoto(afterImage ?: beforeImage, o, scale) }
            if (afterImage != null) drawLine(Color.White, Offset(x, 0f), Offset(x, size.height), strokeWidth = 3f)
        }
        if (afterImage != null) {
            // The divider's grip: a strip around it that takes horizontal drags before the photo's gestures do.
            Box(
                Modifier
                    .offset { IntOffset((split * view.width - handle / 2).roundToInt(), 0) }
                    .width(48.dp)
                    .fillMaxHeight()
                    .pointerInput(view) {
                        detectHorizontalDragGestures { change, dx ->
                            change.consume()
                            split = (split + dx / view.width).coerceIn(0f, 1f)
                        }
                    }
            )
            Text("before", color = Color.White, modifier = Modifier.align(Alignment.TopStart).padding(8.dp))
            Text("after", color = Color.White, modifier = Modifier.align(Alignment.TopEnd).padding(8.dp))
        }
        Text(
            if (zoom >= maxZoom) "1:1" else "%.0f%%".format(fit * zoom * 100),
            color = Color.White,
            modifier = Modifier.align(Alignment.BottomEnd).padding(8.dp)
        )
    }
}

private fun DrawScope.drawPhoto(image: ImageBitmap, origin: Offset, scale: Float) {
    drawImage(
        image,
        dstOffset = IntOffset(origin.x.roundToInt(), origin.y.roundToInt()),
        dstSize = IntSize((image.width * scale).roundToInt(), (image.height * scale).roundToInt()),
        filterQuality = if (scale >= 1f) FilterQuality.None else FilterQuality.Low // sharp pixels when zoomed in
    )
}
