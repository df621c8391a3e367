#!/bin/sh
# Install what the server tests need: Dovecot (IMAP), openssl (throwaway
# certificates), DejaVu fonts (test forms), Chromium (the web page's browser
# test, driven by Playwright; never `playwright install`) and LibreOffice Writer
# (test forms saved as PDF/doc/odt/rtf; the reader of .doc, .odt and .rtf
# forms). Idempotent: installs only
# what is missing, so running it before every `make test` costs nothing.
set -eu

missing=""
command -v dovecot >/dev/null 2>&1 || missing="$missing dovecot-imapd"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
[ -d /usr/share/fonts/truetype/dejavu ] || missing="$missing fonts-dejavu-core"
[ -x /usr/bin/chromium ] || missing="$missing chromium"  # the web page's browser test
command -v soffice >/dev/null 2>&1 || missing="$missing libreoffice-writer-nogui"

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
else
    SUDO=""
fi

# The full set, whatever is missing: cheap once the package lists are there.
echo "setup-servers: installing:$missing" >&2
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    dovecot-imapd fonts-dejavu-core openssl chromium libreoffice-writer-nogui

# Tests run their own Dovecot from a temp dir; the system service is not used.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now dovecot >/dev/null 2>&1 || true
fi
