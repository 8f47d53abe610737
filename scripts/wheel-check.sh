#!/bin/sh
# Proves that the package installs: the wheel built from this checkout is installed (not editable)
# with its dependencies into a fresh virtual environment in a temporary directory, and run from
# there, outside the checkout: the packaged example site passes check-config and a short
# engine-only day runs. Needs the package registry for the dependencies.
set -eu
PYTHON=${PYTHON:-python3}
BUILD_PYTHON=${BUILD_PYTHON:-$PYTHON}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# Built from a copy of the files git knows (a clean clone's, with uncommitted work): no .mo
# files, so the build must compile them; and no build/ left in the checkout, whose stale
# modules would otherwise end up in a later wheel.
echo "wheel-check: building the wheel"
mkdir "$work/src"
(cd "$repo" && git ls-files --cached --others --exclude-standard | while IFS= read -r f; do
    if [ -f "$f" ]; then echo "$f"; fi
done) | tar -C "$repo" -cf - -T - | tar -C "$work/src" -xf -
"$BUILD_PYTHON" -m pip wheel -q --no-deps -w "$work/dist" "$work/src"
echo "wheel-check: installing $(cd "$work/dist" && ls palvelupiste-*.whl) into a fresh venv"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$work"/dist/palvelupiste-*.whl

cd "$work"
bin="$work/venv/bin"
site=$("$bin/palvelupiste" example-site --path)
case "$site" in
    "$work/venv/"*) ;;
    *) echo "wheel-check: the example site is not the installed one: $site" >&2; exit 1 ;;
esac
"$bin/palvelupiste" check-config "$site"
"$bin/palvelupiste" demo --engine-only --tickets 80 --output "$work/demo"
test -s "$work/demo/summary.json"
echo "wheel-check: ok"
