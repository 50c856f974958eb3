#!/usr/bin/env bash
# System packages the project needs: ImageMagick's MagickWand (loaded by wand); with "browser", also Chromium and
# its driver, for the test that opens the report in a real browser.
set -euo pipefail
want_browser=false
[ "${1:-}" = browser ] && want_browser=true
have_wand=false
ldconfig -p 2>/dev/null | grep -q 'libMagickWand' && have_wand=true
have_browser=true
if $want_browser && ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then
  have_browser=false
fi
if $have_wand && $have_browser; then
  exit 0
fi
if [ "$(uname -s)" = Darwin ]; then
  $have_wand || brew list imagemagick >/dev/null 2>&1 || brew install imagemagick
  $have_browser || echo "note: install Chromium and chromedriver for the browser test (it is skipped without them)"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  if ! $have_wand; then
    echo "Installing ImageMagick (MagickWand) with apt-get..."
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libmagickwand-6.q16-6 \
      || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends imagemagick
  fi
  if ! $have_browser; then
    echo "Installing Chromium and chromedriver with apt-get (for the report's browser test)..."
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver \
      || echo "note: Chromium could not be installed; the browser test will be skipped"
  fi
  exit 0
fi
echo "error: install ImageMagick (the MagickWand library) with your package manager, then run this again." >&2
exit 1
