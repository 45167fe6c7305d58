#!/usr/bin/env bash
# Fetch the front-end libraries from the npm registry (package-lock.json pins them) and copy what pages load.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --loglevel=error
dest=src/tinhso/web/static/vendor
mkdir -p "$dest"
cp node_modules/htmx.org/dist/htmx.min.js "$dest/"
cp node_modules/echarts/dist/echarts.min.js "$dest/"
cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css "$dest/"
# axe-core: the accessibility audit the browser tests inject into pages (no page loads it).
cp node_modules/axe-core/axe.min.js "$dest/"
