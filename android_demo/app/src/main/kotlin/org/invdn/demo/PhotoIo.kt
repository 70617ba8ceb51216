package org.invdn.demo

import android.content.ContentResolver
import android.content.ContentValues
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.BitmapRegionDecoder
import android.graphics.ColorSpace
import android.graphics.Rect
import android.net.Uri
import android.os.Build
import android.os.Environment
import android.provider.MediaStore
import androidx.exifinterface.media.ExifInterface
import java.io.File
import java.io.IOException
import java.nio.ByteBuffer
import org.invdn.core.BandDecoder
import org.invdn.core.BandEncoder
import org.invdn.core.InvdnException
import org.invdn.core.Rgba8Image

/**
 * A photo as picked: where it is, its stored size and EXIF orientation (the core turns it upright), its EXIF tags,
 * and the downscale it is denoised at ([sample]: 1 full size, 2 half... when the full photo would not fit).
 */
data class PickedPhoto(
    val uri: Uri,
    val storedHeight: Int,
    val storedWidth: Int,
    val orientation: Int,
    val exif: Map<String, String>,
    val name: String,
    val sample: Int = 1
) {
    val height: Int
        get() = if (orientation in 5..8) sampled(storedWidth) else sampled(storedHeight)
    val width: Int
        get() = if (orientation in 5..8) sampled(storedHeight) else sampled(storedWidth)

    fun sampled(n: Int): Int = (n + sample - 1) / sample
}

/** Decoding (in bands, to sRGB), display bitmaps and saving; the pixels themselves are the core's. */
object PhotoIo {
    /** EXIF tags carried from the original to the saved photo (not the orientation: the saved pixels are upright). */
    private val KEPT_TAGS = listOf(
        ExifInterface.TAG_DATETIME,
        ExifInterface.TAG_DATETIME_ORIGINAL,
        ExifInterface.TAG_OFFSET_TIME_ORIGINAL,
        ExifInterface.TAG_MAKE,
        ExifInterface.TAG_MODEL,
        ExifInterface.TAG_F_NUMBER,
        ExifInterface.TAG_EXPOSURE_TIME,
        ExifInterface.TAG_PHOTOGRAPHIC_SENSITIVITY,
        ExifInterface.TAG_FOCAL_LENGTH
    )

    /** Pixels of the preview bitmaps (before and after): the screen needs no more, the canvas limit is ~100 MB. */
    private const val PREVIEW_PIXELS = 8_000_000L

    private val SRGB: ColorSpace = ColorSpace.get(ColorSpace.Named.SRGB)

    /** The photo's size, orientation and tags, without decoding its pixels; one clear error when it is no image. */
    fun read(resolver: ContentResolver, uri: Uri): PickedPhoto {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        try {
            resolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, bounds) }
        } catch (e: IOException) {
            throw InvdnException("cannot read the photo (${e.message})")
        }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) throw InvdnException("not an image (or a format this phone cannot decode)")
        val exif = try {
            resolver.openInputStream(uri)?.use { ExifInterface(it) }
        } catch (e: IOException) {
            null
        }
        val tags = HashMap<String, String>()
        for (tag in KEPT_TAGS) exif?.getAttribute(tag)?.let { tags[tag] = it }
        val orientation = exif?.getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL) ?: ExifInterface.ORIENTATION_NORMAL
        return PickedPhoto(uri, bounds.outHeight, bounds.outWidth, if (orientation in 0..8) orientation else 1, tags, uri.lastPathSegment ?: "photo")
    }

    /** An upright preview of at most [PREVIEW_PIXELS] (subsampled while decoding), in sRGB. */
    fun preview(resolver: ContentResolver, photo: PickedPhoto): Bitmap {
        var sample = 1
        while (photo.storedHeight.toLong() / sample * (photo.storedWidth / sample) > PREVIEW_PIXELS) sample *= 2
        val options = BitmapFactory.Options().apply {
            inSampleSize = sample
            inPreferredConfig = Bitmap.Config.ARGB_8888
            inPreferredColorSpace = SRGB // a Display-P3 photo converted, not read as if it were sRGB
        }
        val bitmap = resolver.openInputStream(photo.uri)?.use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw InvdnException("not an image (or a format this phone cannot decode)")
        val rgba = ByteBuffer.allocate(bitmap.byteCount)
        bitmap.copyPixelsToBuffer(rgba)
        val image = Rgba8Image(rgba.array(), bitmap.height, bitmap.width, photo.orientation)
        bitmap.recycle()
        return bitmap(image.uprightRgba(), image.height, image.width)
    }

    /** [full] scaled to the [like] preview's size (the before/after view draws both at one scale). */
    fun preview(full: Bitmap, like: Bitmap): Bitmap =
        if (full.width == like.width && full.height == like.height) full else Bitmap.createScaledBitmap(full, like.width, like.height, true)

    /** An ARGB_8888 bitmap of RGBA bytes. */
    fun bitmap(rgba: ByteArray, height: Int, width: Int): Bitmap {
        val bitmap = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)
        bitmap.copyPixelsFromBuffer(ByteBuffer.wrap(rgba))
        return bitmap
    }

    /**
     * The photo's stored pixels band by band for the core's whole-photo path: BitmapRegionDecoder, at the photo's
     * [PickedPhoto.sample], converted to sRGB. Only one band bitmap is alive at a time.
     */
    class RegionDecoder(resolver: ContentResolver, private val photo: PickedPhoto) : BandDecoder, AutoCloseable {
        private val decoder: BitmapRegionDecoder = try {
            resolver.openInputStream(photo.uri)?.use { stream ->
                if (Build.VERSION.SDK_INT >= 31) BitmapRegionDecoder.newInstance(stream) else @Suppress("DEPRECATION") BitmapRegionDecoder.newInstance(stream, false)
            } ?: throw InvdnException("cannot open the photo")
        } catch (e: IOException) {
            throw InvdnException("this phone cannot decode the photo in bands (${e.message})")
        }
        override val storedHeight = photo.sampled(photo.storedHeight)
        override val storedWidth = photo.sampled(photo.storedWidth)
        override val orientation = photo.orientation
        private var argb = IntArray(0)

        override fun decode(y0: Int, rows: Int, out: ByteArray, offset: Int) {
            val s = photo.sample
            val region = Rect(0, y0 * s, photo.storedWidth, Math.min(photo.storedHeight, (y0 + rows) * s))
            val options = BitmapFactory.Options().apply {
                inSampleSize = s
                inPreferredConfig = Bitmap.Config.ARGB_8888
                inPreferredColorSpace = SRGB
            }
            val band = decoder.decodeRegion(region, options) ?: throw InvdnException("the photo's rows $y0-${y0 + rows} could not be decoded")
            try {
                val w = Math.min(band.width, storedWidth)
                if (argb.size < band.width) argb = IntArray(band.width)
                var o = offset
                for (r in 0 until rows) {
                    band.getPixels(argb, 0, band.width, 0, Math.min(r, band.height - 1), band.width, 1) // a short last band repeats its last row
                    for (x in 0 until storedWidth) {
                        val p = argb[Math.min(x, w - 1)]
                        out[o++] = (p shr 16).toByte()
                        out[o++] = (p shr 8).toByte()
                        out[o++] = p.toByte()
                    }
                }
            } finally {
                band.recycle()
            }
        }

        override fun close() = decoder.recycle()
    }

    /**
     * The denoised photo, upright, into one ARGB_8888 bitmap (native memory, not the Java heap) row band by row band;
     * the bitmap is what [save] compresses (Android's JPEG encoder needs the whole bitmap).
     */
    class BitmapEncoder(height: Int, width: Int) : BandEncoder {
        val bitmap: Bitmap = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)
        private var argb = IntArray(0)

        override fun rows(y0: Int, rows: Int, width: Int, rgb: ByteArray) {
            val n = rows * width
            if (argb.size < n) argb = IntArray(n)
            for (i in 0 until n) {
                argb[i] = (0xFF shl 24) or ((rgb[i * 3].toInt() and 0xFF) shl 16) or ((rgb[i * 3 + 1].toInt() and 0xFF) shl 8) or (rgb[i * 3 + 2].toInt() and 0xFF)
            }
            bitmap.setPixels(argb, 0, width, 0, y0, width, rows)
        }
    }

    /**
     * Save the upright result [bitmap] to the gallery as a JPEG in Pictures/InvDN with the original's capture tags.
     * Android 10+: MediaStore with a relative path, pending until complete. Android 8-9: the file is written into
     * Pictures/InvDN itself (the storage permission) and then registered with MediaStore. A failure leaves no
     * half-written picture. Returns the Uri and where the file really is, for the status line.
     */
    fun save(resolver: ContentResolver, photo: PickedPhoto, bitmap: Bitmap, name: String): Pair<Uri, String> {
        return if (Build.VERSION.SDK_INT >= 29) saveScoped(resolver, photo, bitmap, name) else saveLegacy(resolver, photo, bitmap, name)
    }

    private fun saveScoped(resolver: ContentResolver, photo: PickedPhoto, bitmap: Bitmap, name: String): Pair<Uri, String> {
        val folder = "${Environment.DIRECTORY_PICTURES}/InvDN"
        val values = ContentValues().apply {
            put(MediaStore.Images.Media.DISPLAY_NAME, name)
            put(MediaStore.Images.Media.MIME_TYPE, "image/jpeg")
            put(MediaStore.Images.Media.RELATIVE_PATH, folder)
            put(MediaStore.Images.Media.IS_PENDING, 1)
        }
        val uri = resolver.insert(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, values) ?: throw InvdnException("the gallery refused a new picture")
        try {
            resolver.openOutputStream(uri)?.use { out ->
                if (!bitmap.compress(Bitmap.CompressFormat.JPEG, 95, out)) throw InvdnException("JPEG encoding failed")
            } ?: throw InvdnException("cannot write to the gallery")
            resolver.openFileDescriptor(uri, "rw")?.use { fd -> writeExif(ExifInterface(fd.fileDescriptor), photo) }
            values.clear()
            values.put(MediaStore.Images.Media.IS_PENDING, 0)
            resolver.update(uri, values, null, null)
            return uri to "$folder/$name"
        } catch (e: Exception) {
            resolver.delete(uri, null, null)
            throw if (e is InvdnException) e else InvdnException("cannot save the photo (${e.message})")
        }
    }

    @Suppress("DEPRECATION") // the public Pictures folder and MediaStore's DATA column: how Android 8-9 save
    private fun saveLegacy(resolver: ContentResolver, photo: PickedPhoto, bitmap: Bitmap, name: String): Pair<Uri, String> {
        val dir = File(Environment.getExternalStoragePublicDirectory(Environment.DIRECTORY_PICTURES), "InvDN")
        if (!dir.isDirectory && !dir.mkdirs()) throw InvdnException("cannot create $dir")
        val file = File(dir, name)
        val part = File(dir, ".$name.part")
        try {
            part.outputStream().use { out ->
                if (!bitmap.compress(Bitmap.CompressFormat.JPEG, 95, out)) throw InvdnException("JPEG encoding failed")
            }
            writeExif(ExifInterface(part.path), photo)
            if (!part.renameTo(file)) throw InvdnException("cannot write $file")
        } catch (e: Exception) {
            part.delete()
            throw if (e is InvdnException) e else InvdnException("cannot save the photo (${e.message})")
        }
        val values = ContentValues().apply {
            put(MediaStore.Images.Media.DISPLAY_NAME, name)
            put(MediaStore.Images.Media.MIME_TYPE, "image/jpeg")
            put(MediaStore.Images.Media.DATA, file.absolutePath)
        }
        val uri = resolver.insert(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, values) ?: Uri.fromFile(file)
        return uri to file.absolutePath
    }

    private fun writeExif(exif: ExifInterface, photo: PickedPhoto) {
        for ((tag, value) in photo.exif) exif.setAttribute(tag, value)
        exif.setAttribute(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL.toString()) // pixels upright
        exif.setAttribute(ExifInterface.TAG_SOFTWARE, "invdn-mobile Android demo")
        exif.saveAttributes()
    }
}
