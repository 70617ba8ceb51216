#!/bin/sh
# Build phase of the app (project.yml, postCompileScripts): compile the iOS recipes' Core ML exports into the app
# bundle as Models/<target>/<name>.mlmodelc, each target's manifest.json beside them. The exports are the files
# `invdn export ios-fp32|ios-fp16|ios-int8` (or `invdn export all`) wrote to export/out/<target>/ at the repository
# root; set INVDN_EXPORT_DIR to use another folder. Artifacts a parity gate rejected (*.mlpackage.rejected) are
# left out; so are targets not exported yet, with a warning (the app lists them as missing).
set -eu

EXPORT_DIR="${INVDN_EXPORT_DIR:-$SRCROOT/../export/out}"
DEST="$TARGET_BUILD_DIR/$UNLOCALIZED_RESOURCES_FOLDER_PATH/Models"

rm -rf "$DEST"
mkdir -p "$DEST"
found=0
for dir in "$EXPORT_DIR"/ios-*; do
    [ -f "$dir/manifest.json" ] || continue
    target=$(basename "$dir")
    mkdir -p "$DEST/$target"
    cp "$dir/manifest.json" "$DEST/$target/manifest.json"
    for package in "$dir"/*.mlpackage; do
        [ -d "$package" ] || continue
        xcrun coremlcompiler compile "$package" "$DEST/$target/" >/dev/null
        found=$((found + 1))
    done
done

if [ "$found" -eq 0 ]; then
    echo "warning: no Core ML export in $EXPORT_DIR/ios-* (run: invdn export ios-fp16, ios-fp32, ios-int8); the app will list the models as missing"
else
    echo "compiled $found Core ML model(s) from $EXPORT_DIR into $DEST"
fi
