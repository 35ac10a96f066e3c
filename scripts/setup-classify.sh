#!/usr/bin/env bash
# Installs what the image classification task (preset hinton-mnist) needs from Debian: the
# Fashion-MNIST IDX files (70,000 real 28 x 28 images, 10 classes), which the package puts
# under /usr/share/datasets/fashion-mnist/ (gzipped). Idempotent.
set -euo pipefail
PACKAGE=dataset-fashion-mnist
if dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null | grep -q "install ok installed"; then
  echo "setup-classify: $PACKAGE already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-classify: installing $PACKAGE"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$PACKAGE" >/dev/null
