#!/bin/sh
# The README's main job, offline: make a busybox image from the host's static busybox
# (Debian busybox-static), bring examples/webapp up, show it, check the web answers on
# its published port, and take it all down again.
#
#   sh examples/demo.sh            # uses `stackr` from PATH, or STACKR="python3 -m stackr"
set -eu
here=$(cd "$(dirname "$0")" && pwd)
stackr=${STACKR:-stackr}
stack="$here/webapp/compose.yaml"
python=${PYTHON:-python3}
[ -x /bin/busybox ] || { echo "demo: needs /bin/busybox (apt-get install busybox-static)" >&2; exit 4; }

work=$(mktemp -d)
cleanup() {
    status=$?
    if [ "$status" -ne 0 ] && [ -n "${up_done:-}" ]; then
        $stackr -f "$stack" down -t 2 >&2 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT INT TERM

# 1. A busybox root filesystem and an image made from it (offline; no registry).
root="$work/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
$stackr image import "$root" busybox:latest --cmd sh

# 2. A free loopback port for the web service (WEB_PORT feeds the stack file).
WEB_PORT=$($python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export WEB_PORT

# 3. Up (detached; db healthy → api → web; --wait: until all run or are healthy).
up_done=1
$stackr -f "$stack" up -d --wait
$stackr -f "$stack" ps

# 4. The web answers on the published port (no curl/wget needed: python's urllib).
$python - "$WEB_PORT" <<'PY'
import sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/"
body = urllib.request.urlopen(url, timeout=10).read().decode()
assert "hello from the stackr webapp example" in body, body
print(f"demo: {url} answers: {body.splitlines()[-1]}")
PY
$stackr -f "$stack" logs --tail 2 api

# 5. Down: nothing of the project is left.
$stackr -f "$stack" down
up_done=
echo "demo: ok"
