#!/usr/bin/env bash
# Install the real parts the tests use, from Debian's packages, when missing:
# redis-server, Alertmanager + amtool, Prometheus + promtool, chromium,
# buildah + mmdebstrap.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v alertmanager >/dev/null || command -v prometheus-alertmanager >/dev/null \
  || need+=(prometheus-alertmanager)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus >/dev/null || need+=(prometheus)
# slapd: a real LDAP server for the identity-provider probe tests (slapd and
# slapadd live in /usr/sbin, which a non-root PATH may lack)
command -v slapd >/dev/null || [ -x /usr/sbin/slapd ] || need+=(slapd)
# nats-server: the NATS probe tests start one with credentials
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
# chromium: the admin UI tests drive Debian's browser through Playwright
# (tests/admin/test_browser.py uses /usr/bin/chromium; no `playwright install`)
[ -x /usr/bin/chromium ] || need+=(chromium)
# buildah and mmdebstrap: the image test builds the Containerfile on a Debian
# base made from Debian's packages (no container registry is reachable)
command -v buildah >/dev/null || need+=(buildah)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root to apt-get install ${need[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "installing from Debian packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages start their own services; the tests start their own instances.
for svc in prometheus prometheus-alertmanager slapd; do
  $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
