#!/bin/sh
# Development time only: refresh the vendored GOV.UK Frontend and axe-core files.
# Users never run this; the files it writes are committed.
#   npm install govuk-frontend@6 axe-core@4 sass   (in a scratch folder, NODE_DIR)
#   NODE_DIR=/path/to/scratch sh tools/vendor_govuk.sh
# The CSS is compiled with Arial (GDS Transport is for GOV.UK's own domain only) and
# with asset paths under /static/govuk/assets/, where intake/web serves them.
set -eu
NODE_DIR=${NODE_DIR:?the folder where npm installed govuk-frontend, axe-core and sass}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/intake/web/static/govuk"
GOVUK="$NODE_DIR/node_modules/govuk-frontend/dist/govuk"
mkdir -p "$OUT/assets/images"
cat > "$NODE_DIR/intake-govuk.scss" <<'SCSS'
@use "govuk-frontend/dist/govuk" as * with (
  $govuk-font-family: (arial, sans-serif),
  $govuk-include-default-font-face: false,
  $govuk-assets-path: "/static/govuk/assets/"
);
SCSS
"$NODE_DIR/node_modules/.bin/sass" --no-source-map --style=compressed \
  --load-path="$NODE_DIR/node_modules" --quiet-deps \
  "$NODE_DIR/intake-govuk.scss" "$OUT/govuk-frontend.min.css"
cp "$GOVUK/govuk-frontend.min.js" "$OUT/"
cp "$GOVUK/assets/images/favicon.ico" "$GOVUK/assets/images/favicon.svg" \
   "$GOVUK/assets/images/govuk-crest.svg" "$OUT/assets/images/"
cp "$NODE_DIR/node_modules/govuk-frontend/package.json" "$OUT/govuk-frontend-package.json"
cp "$NODE_DIR/node_modules/axe-core/axe.min.js" "$ROOT/tests/axe.min.js"
echo "vendored govuk-frontend $(grep '"version"' "$GOVUK/../../package.json") and axe-core"
