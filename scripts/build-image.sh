#!/usr/bin/env bash
# make image: build robot-sre:<version> from the Containerfile with buildah,
# podman or docker, whichever is here (IMAGE_TOOL to choose).
#
#   BASE_IMAGE=<ref>   the base (default: the official python:3.11-slim image)
#   BASE_IMAGE=local   a Debian bookworm base with Python made here by
#                      mmdebstrap from Debian's packages (no registry needed)
#   IMAGE=<ref>        the name to tag (default robot-sre:<version>)
#   IMAGE_TOOL_FLAGS   the tool's global flags (e.g. buildah's --root DIR)
#   BUILD_CA_BUNDLE    a CA bundle pip inside the build must trust (default:
#                      PIP_CERT, for a package index behind a TLS proxy);
#                      mounted for the build only (buildah, podman)
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image=${IMAGE:-robot-sre:$version}
tool=${IMAGE_TOOL:-}
if [ -z "$tool" ]; then
  for candidate in buildah podman docker; do
    if command -v "$candidate" >/dev/null; then tool=$candidate; break; fi
  done
fi
[ -n "$tool" ] || { echo "make image: needs buildah, podman or docker" >&2; exit 1; }

# buildah as root in a container: no overlay mounts, no namespaces to spare
read -r -a flags <<< "${IMAGE_TOOL_FLAGS:-}"
if [ "$tool" = buildah ]; then flags+=(--storage-driver "${STORAGE_DRIVER:-vfs}"); fi
build_flags=()
if [ "$tool" = buildah ]; then build_flags=(--isolation "${ISOLATION:-chroot}"); fi

base=${BASE_IMAGE:-docker.io/library/python:3.11-slim-bookworm}
if [ "$base" = local ]; then
  base=localhost/robot-sre-base:bookworm
  if ! "$tool" "${flags[@]}" inspect "$base" >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null || { echo "BASE_IMAGE=local needs mmdebstrap" >&2; exit 1; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "making $base with mmdebstrap"
    mmdebstrap --quiet --variant=apt --mode=root \
      --include=python3,python3-venv,ca-certificates bookworm "$work/base.tar"
    if [ "$tool" = buildah ]; then
      container=$(buildah "${flags[@]}" from scratch)
      buildah "${flags[@]}" add "$container" "$work/base.tar" /
      buildah "${flags[@]}" commit --quiet "$container" "$base" >/dev/null
      buildah "${flags[@]}" rm "$container" >/dev/null
    else
      "$tool" import "$work/base.tar" "$base" >/dev/null
    fi
  fi
fi

ca=${BUILD_CA_BUNDLE:-${PIP_CERT:-}}
if [ -n "$ca" ] && [ "$tool" != docker ]; then
  build_flags+=(--volume "$ca:/run/build-ca.crt:ro" --build-arg PIP_CERT=/run/build-ca.crt)
fi

echo "building $image on $base with $tool"
"$tool" "${flags[@]}" build "${build_flags[@]}" \
  --build-arg "BASE=$base" --build-arg "VERSION=$version" \
  --tag "$image" --file Containerfile .
