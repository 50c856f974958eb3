#!/usr/bin/env bash
# System libraries the Python dependencies need: ImageMagick's MagickWand, loaded by wand.
set -euo pipefail
if ldconfig -p 2>/dev/null | grep -q 'libMagickWand'; then
  exit 0
fi
if [ "$(uname -s)" = Darwin ]; then
  brew list imagemagick >/dev/null 2>&1 || brew install imagemagick
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing ImageMagick (MagickWand) with apt-get..."
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libmagickwand-6.q16-6 \
    || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends imagemagick
  exit 0
fi
echo "error: install ImageMagick (the MagickWand library) with your package manager, then run this again." >&2
exit 1
