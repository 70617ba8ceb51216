#!/bin/sh
# Build phase of the app (project.yml, postCompileScripts): compile the iOS recipes' Core ML exports into the app
# bundle as Models/<target>/<name>.mlmodelc, each target's manifest.json beside them. The exports are the files
# `invdn export ios-fp32|ios-fp16|ios-int8` (or `invdn export all`) wrote to export/out/<target>/ at the repository
# root; set INVDN_EXPORT_DIR to use another folder. Artifacts a parity gate rejected (*.mlpackage.rejected) are
# left out; so are targets not exported yet, with a warning (the app lists them as missing).
#
# Each model is compiled for the platform and deployment target being built (as Xcode compiles a model it manages:
# --platform, --deployment-target), into a cache in DERIVED_FILE_DIR, and only again when its package's files or
# the build settings changed (a checksum stamp beside the compiled model); the bundle gets copies of the cache.
set -eu

EXPORT_DIR="${INVDN_EXPORT_DIR:-$SRCROOT/../export/out}"
DEST="$TARGET_BUILD_DIR/$UNLOCALIZED_RESOURCES_FOLDER_PATH/Models"
CACHE="${DERIVED_FILE_DIR:-$TARGET_TEMP_DIR}/InvDNModels"
case "${PLATFORM_NAME:-iphoneos}" in
    iphoneos | iphonesimulator) PLATFORM=ios ;;
    macosx) PLATFORM=macos ;;
    *) PLATFORM=ios ;;
esac
TARGET_OS="${IPHONEOS_DEPLOYMENT_TARGET:-17.0}"

rm -rf "$DEST"
mkdir -p "$DEST" "$CACHE"
found=0
compiled=0
for dir in "$EXPORT_DIR"/ios-*; do
    [ -f "$dir/manifest.json" ] || continue
    target=$(basename "$dir")
    mkdir -p "$DEST/$target" "$CACHE/$target"
    cp "$dir/manifest.json" "$DEST/$target/manifest.json"
    for package in "$dir"/*.mlpackage; do
        [ -d "$package" ] || continue
        name=$(basename "$package" .mlpackage)
        stamp="$CACHE/$target/$name.stamp"
        want=$( (cd "$package" && find . -type f | LC_ALL=C sort | xargs cksum; echo "$PLATFORM $TARGET_OS") | cksum)
        if [ ! -d "$CACHE/$target/$name.mlmodelc" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
            rm -rf "$CACHE/$target/$name.mlmodelc"
            xcrun coremlcompiler compile "$package" "$CACHE/$target/" \
                --platform "$PLATFORM" --deployment-target "$TARGET_OS" >/dev/null
            echo "$want" >"$stamp"
            compiled=$((compiled + 1))
        fi
        cp -R "$CACHE/$target/$name.mlmodelc" "$DEST/$target/"
        found=$((found + 1))
    done
done

if [ "$found" -eq 0 ]; then
    echo "warning: no Core ML export in $EXPORT_DIR/ios-* (run: invdn export ios-fp16, ios-fp32, ios-int8); the app will list the models as missing"
else
    echo "bundled $found Core ML model(s) from $EXPORT_DIR into $DEST ($compiled compiled now, for $PLATFORM $TARGET_OS)"
fi
