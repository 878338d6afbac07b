#!/usr/bin/env bash
# Builds the container image where base images cannot be pulled: a Debian bookworm base made
# locally with mmdebstrap, the release binary built on this (bookworm) machine, and the
# Dockerfile's `local` target built with buildah (chroot isolation). Then runs
# `madbus --version` and `madbus check-config` inside it and reports the image's size.
# Not part of CI. Usage: bash bench/image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for pair in buildah:buildah mmdebstrap:mmdebstrap; do
  command -v "${pair%%:*}" >/dev/null || apt-get install -y -qq "${pair#*:}" >/dev/null
done
export BUILDAH_ISOLATION=chroot
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "==> base: Debian bookworm (minbase) from the Debian mirror, with mmdebstrap"
if ! buildah images --quiet localhost/madbus-base:bookworm >/dev/null 2>&1; then
  # No manuals, translations or package lists: a runtime needs none of them.
  mmdebstrap --quiet --variant=minbase --include=ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
    bookworm "$WORK/base.tar"
  base=$(buildah from scratch)
  buildah add --quiet "$base" "$WORK/base.tar" /
  buildah commit --quiet "$base" localhost/madbus-base:bookworm >/dev/null
  buildah rm "$base" >/dev/null
fi

echo "==> the shipped binary (profile dist: fat LTO, one codegen unit)"
cargo build --profile dist --locked --quiet --bin madbus
# Symbols kept apart (target/image/madbus.debug); the image ships the stripped binary.
mkdir -p target/image
objcopy --only-keep-debug target/dist/madbus target/image/madbus.debug
objcopy --strip-all --add-gnu-debuglink=target/image/madbus.debug target/dist/madbus target/image/madbus

echo "==> the image (Dockerfile, target local)"
buildah bud --quiet --format docker --isolation chroot --layers=false --target local \
  --build-arg RUNTIME_IMAGE=localhost/madbus-base:bookworm -t localhost/madbus:local . >/dev/null

echo "==> inside the image"
ctr=$(buildah from localhost/madbus:local)
buildah run "$ctr" -- /usr/local/bin/madbus --version
buildah run "$ctr" -- /usr/local/bin/madbus check-config | head -3
buildah run "$ctr" -- id
shipped=$(buildah run "$ctr" -- stat -c %s /usr/local/bin/madbus)
buildah rm "$ctr" >/dev/null

echo "==> sizes"
for image in localhost/madbus:local localhost/madbus-base:bookworm; do
  buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$image"
done
printf 'binary in the image: %s bytes; with line tables: %s bytes; symbols apart: %s bytes\n' \
  "$shipped" "$(stat -c %s target/dist/madbus)" "$(stat -c %s target/image/madbus.debug)"
[ "$shipped" -le 25000000 ] && echo "shipped binary <= 25 MB: yes" || echo "shipped binary <= 25 MB: NO"
