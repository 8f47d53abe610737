#!/bin/sh
# Installs the Debian packages that the demo and the tests need, where they are missing.
# Works on Debian bookworm / Raspberry Pi OS; uses sudo when not root.
set -eu
# chromium: the web pages are tested in it; libpango: WeasyPrint draws the PDF reports with it;
# poppler-utils: the tests look at those PDFs (pdftoppm).
# Ticket lines no printer code page carries are drawn (printer/raster.py): libfribidi0 is loaded
# at run time by the raqm that Pillow's wheels bundle (right-to-left order); fonts-noto-core has
# Noto Sans Arabic (Arabic, Persian, Sorani) and Noto Sans (Sámi ŋ ŧ, Vietnamese);
# fonts-wqy-microhei is the smallest Debian font with Chinese (5 MB; fonts-noto-cjk is 90 MB).
PKGS="mosquitto mosquitto-clients postgresql xvfb xauth espeak-ng sox alsa-utils libmtdev1 libgl1 libegl1 openssl fonts-dejavu-core chromium libpango-1.0-0 libpangoft2-1.0-0 poppler-utils libfribidi0 fonts-noto-core fonts-wqy-microhei"
# Debian's python3 has no ensurepip unless python3-venv is installed; other Pythons bring it.
${PYTHON:-python3} -c "import ensurepip" 2>/dev/null || PKGS="$PKGS python3-venv"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: apt-get not found; install these yourself:$missing" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "system-deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
# The distribution starts a system-wide broker on 1883; the project runs its own brokers.
