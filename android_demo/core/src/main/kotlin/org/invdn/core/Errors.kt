package org.invdn.core

/** Every error the core raises on purpose: one line that says what is wrong, for the user or the log. */
open class InvdnException(message: String) : Exception(message)

/** A manifest.json that is not valid JSON, misses or mistypes a field, or was written by a newer contract version. */
class ManifestException(message: String) : InvdnException(message)

/** The caller asked to stop (between two tiles). */
class CancelledException : InvdnException("cancelled")
