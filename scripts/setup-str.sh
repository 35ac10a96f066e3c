#!/usr/bin/env bash
# Installs what the scene-text (word image) task needs from Debian's packages: font families
# for the synthetic word renderer (split by family into train/dev/test fonts, so breadth of
# families matters more than weights) and the wamerican word list (/usr/share/dict/words).
# Idempotent: when everything is already installed it returns without touching apt.
set -euo pipefail

# Chosen for many distinct Latin designs at modest size. Left out on purpose: fonts-noto-core
# (42 MB, mostly non-Latin scripts), fonts-croscore (clones of Liberation), caps-only display
# faces (Bebas Neue), and illegible scripts (Kristi, Isabella).
PACKAGES=(
  wamerican
  fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 fonts-freefont-ttf fonts-urw-base35
  fonts-roboto-unhinted fonts-open-sans fonts-crosextra-caladea fonts-crosextra-carlito
  fonts-linuxlibertine fonts-cantarell fonts-lato fonts-comic-neue
  fonts-inconsolata fonts-ebgaramond fonts-firacode fonts-hack fonts-noto-mono fonts-oxygen
  fonts-quicksand fonts-league-spartan fonts-lobster fonts-gfs-artemisia fonts-sil-gentium
  fonts-sil-andika fonts-adf-accanthis fonts-adf-gillius fonts-adf-universalis fonts-cabin
  fonts-dancingscript fonts-go fonts-jura fonts-paratype fonts-stix fonts-yanone-kaffeesatz
  fonts-anonymous-pro fonts-mononoki fonts-jetbrains-mono fonts-humor-sans fonts-femkeklaver
  fonts-tuffy fonts-vollkorn
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-str: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup-str: installing ${#missing[@]} packages: ${missing[*]}"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup-str: done"
