package org.invdn.demo

import android.content.ContentResolver
import android.content.ContentValues
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.net.Uri
import android.os.Build
import android.os.Environment
import android.provider.MediaStore
import androidx.exifinterface.media.ExifInterface
import java.io.IOException
import java.nio.ByteBuffer
import org.invdn.core.InvdnException
import org.invdn.core.Rgba8Image

/** A photo as picked: its stored pixels and EXIF orientation (the core turns it upright), and its EXIF tags. */
class PickedPhoto(val image: Rgba8Image, val exif: Map<String, String>, val name: String)

/** Decoding, display bitmaps and saving; the pixels themselves are the core's. */
object PhotoIo {
    /** EXIF tags carried from the original to the saved photo (orientation included: the pixels keep its layout). */
    private val KEPT_TAGS = listOf(
        ExifInterface.TAG_ORIENTATION,
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

    /** Decode [uri] at full resolution (8-bit RGBA) with its EXIF orientation; one clear error when it is no image. */
    fun read(resolver: ContentResolver, uri: Uri): PickedPhoto {
        val options = BitmapFactory.Options().apply { inPreferredConfig = Bitmap.Config.ARGB_8888 }
        val bitmap = try {
            resolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, options) }
        } catch (e: IOException) {
            throw InvdnException("cannot read the photo (${e.message})")
        } catch (e: OutOfMemoryError) {
            throw InvdnException("the photo is too large for this phone's memory")
        } ?: throw InvdnException("not an image (or a format this phone cannot decode)")
        val exif = try {
            resolver.openInputStream(uri)?.use { ExifInterface(it) }
        } catch (e: IOException) {
            null
        }
        val tags = HashMap<String, String>()
        for (tag in KEPT_TAGS) exif?.getAttribute(tag)?.let { tags[tag] = it }
        val orientation = exif?.getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL) ?: ExifInterface.ORIENTATION_NORMAL
        val rgba = ByteBuffer.allocate(bitmap.byteCount)
        bitmap.copyPixelsToBuffer(rgba) // ARGB_8888 in memory: R, G, B, A bytes
        val image = Rgba8Image(rgba.array(), bitmap.height, bitmap.width, if (orientation in 0..8) orientation else 1)
        bitmap.recycle()
        return PickedPhoto(image, tags, uri.lastPathSegment ?: "photo")
    }

    /** An ARGB_8888 bitmap of RGBA bytes; downscaled by [step] (1: full size) for the screen when it is too large. */
    fun bitmap(rgba: ByteArray, height: Int, width: Int, step: Int = 1): Bitmap {
        if (step == 1) {
            val bitmap = Bitmap.createBitmap(width, height, Bitmap.Config.ARGB_8888)
            bitmap.copyPixelsFromBuffer(ByteBuffer.wrap(rgba))
            return bitmap
        }
        val h = (height + step - 1) / step
        val w = (width + step - 1) / step
        val small = ByteArray(h * w * 4)
        for (y in 0 until h) for (x in 0 until w) System.arraycopy(rgba, ((y * step) * width + x * step) * 4, small, (y * w + x) * 4, 4)
        return bitmap(small, h, w)
    }

    /** The subsampling step that keeps a display bitmap under Android's 100 MB canvas limit. */
    fun displayStep(height: Int, width: Int): Int {
        var step = 1
        while (height.toLong() / step * (width / step) * 4 > 90_000_000L) step++
        return step
    }

    /**
     * Save the upright result [uprightRgba] to the gallery (Pictures/InvDN) as JPEG, laid out as the original's stored
     * pixels with the original's EXIF orientation and capture tags, so it shows exactly as the original does.
     * Written pending and published at the end: a failure leaves no half-written picture. Returns its Uri.
     */
    fun save(resolver: ContentResolver, photo: PickedPhoto, uprightRgba: ByteArray, name: String): Uri {
        val source = photo.image
        val stored = Rgba8Image.storedRgba(uprightRgba, source.height, source.width, source.orientation)
        val bitmap = bitmap(stored, source.storedHeight, source.storedWidth)
        val values = ContentValues().apply {
            put(MediaStore.Images.Media.DISPLAY_NAME, name)
            put(MediaStore.Images.Media.MIME_TYPE, "image/jpeg")
            if (Build.VERSION.SDK_INT >= 29) {
                put(MediaStore.Images.Media.RELATIVE_PATH, "${Environment.DIRECTORY_PICTURES}/InvDN")
                put(MediaStore.Images.Media.IS_PENDING, 1)
            }
        }
        val uri = resolver.insert(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, values)
            ?: throw InvdnException("the gallery refused a new picture")
        try {
            resolver.openOutputStream(uri)?.use { out ->
                if (!bitmap.compress(Bitmap.CompressFormat.JPEG, 95, out)) throw InvdnException("JPEG encoding failed")
            } ?: throw InvdnException("cannot write to the gallery")
            resolver.openFileDescriptor(uri, "rw")?.use { fd ->
                val exif = ExifInterface(fd.fileDescriptor)
                for ((tag, value) in photo.exif) exif.setAttribute(tag, value)
                exif.setAttribute(ExifInterface.TAG_ORIENTATION, source.orientation.toString())
                exif.setAttribute(ExifInterface.TAG_SOFTWARE, "invdn-mobile Android demo")
                exif.saveAttributes()
            }
            if (Build.VERSION.SDK_INT >= 29) {
                values.clear()
                values.put(MediaStore.Images.Media.IS_PENDING, 0)
                resolver.update(uri, values, null, null)
            }
            return uri
        } catch (e: Exception) {
            resolver.delete(uri, null, null)
            throw if (e is InvdnException) e else InvdnException("cannot save the photo (${e.message})")
        } finally {
            bitmap.recycle()
        }
    }
}
