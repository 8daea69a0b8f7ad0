#!/usr/bin/env bash
# Builds the film-affiliate image from a local Debian base (no registry needed) and checks that
# it serves both widgets: the base is made with mmdebstrap and loaded with `podman import` if it
# is missing, the image is built with `podman build --isolation chroot`, and then, from inside
# the image, the database is migrated as compose's one-shot service does, the demo catalog is
# loaded, and the image's own CMD (gunicorn) serves while both widgets are fetched.
#
# Runs as root on a Debian-like host: apt-get install mmdebstrap podman buildah curl
# Not part of CI (minutes, and root tools); run it after changing the Containerfile.
#
#   deploy/build-image.sh                      # base localhost/debian-python:<suite>
#   BASE=docker.io/library/python:3.12-slim-bookworm deploy/build-image.sh   # a registry's base
#
# Containers are started with `buildah run --isolation chroot`, not an OCI runtime, so they share
# the host's network: the web server listens on PORT (default 18000 here; the image's is 8000).
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=${SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
BASE=${BASE:-localhost/debian-python:$SUITE}
IMAGE=${IMAGE:-localhost/film-affiliate:dev}
PORT=${PORT:-18000}
# Both widgets, and what each must show (|-separated).
PAGES=("/widgets/how-to-watch/imdb:tt0113627?region=US" "/widgets/related-products/tmdb:451?region=US")
SHOWS=("Leaving Las Vegas|Vudu|Apple TV|Google Play"
       "Leaving Las Vegas|5-Film Collection|Original Motion Picture Soundtrack|John O&#39;Brien")

need() { command -v "$1" >/dev/null || { echo "needs $1: apt-get install $1"; exit 2; }; }
# One item a line of a list in the image's config, e.g. image_list .Config.Cmd
image_list() { podman image inspect --format "{{range $1}}{{println .}}{{end}}" "$IMAGE" | sed '/^$/d'; }
for tool in podman buildah curl; do need "$tool"; done

if ! podman image exists "$BASE"; then
    case "$BASE" in
        localhost/*)
            need mmdebstrap
            echo "== making $BASE: Debian $SUITE minbase with python3, python3-venv, ca-certificates"
            mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
                --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
                --dpkgopt='path-exclude=/usr/share/locale/*' \
                --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
                "$SUITE" - | podman import --quiet - "$BASE" >/dev/null ;;
        *) podman pull --quiet "$BASE" >/dev/null ;;
    esac
fi

# pip in the build reaches PyPI; where that goes through a TLS-inspecting proxy, the host's CA
# bundle is lent to the build as a volume (never copied into a layer).
ca_args=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    ca_args=(--volume /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro
             --build-arg CA_BUNDLE=/run/host-ca.crt)
fi
echo "== building $IMAGE from $BASE"
started=$SECONDS
podman build --quiet --isolation chroot --format docker --build-arg "BASE=$BASE" "${ca_args[@]}" \
    -f Containerfile -t "$IMAGE" . >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$IMAGE" | numfmt --to=si)
echo "built in $((SECONDS - started)) s, ${size}B"

container=$(buildah from --quiet "$IMAGE")
server_group=""
cleanup() {
    if [ -n "$server_group" ] && kill -0 -- "-$server_group" 2>/dev/null; then
        kill -KILL -- "-$server_group" 2>/dev/null || true
    fi
    buildah rm "$container" >/dev/null
}
trap cleanup EXIT
in_image() { buildah run --isolation chroot --env "PORT=$PORT" "$container" -- "$@"; }

echo "== in the image: user $(in_image id -un) (uid $(in_image id -u)), $(in_image python3 --version)," \
     "$(in_image gunicorn --version)"
in_image affiliate db upgrade 2>&1 | tail -n 1
in_image affiliate refresh --provider demo 2>&1 | tail -n 1

mapfile -t cmd < <(image_list .Config.Cmd)
workers=$(image_list .Config.Env | sed -n 's/^WEB_CONCURRENCY=//p')
echo "== serving the image's CMD (${cmd[*]}, $workers workers) on port $PORT"
log=$(mktemp)
setsid buildah run --isolation chroot --env "PORT=$PORT" "$container" -- "${cmd[@]}" >"$log" 2>&1 &
server_group=$!
for _ in $(seq 60); do
    curl -fso /dev/null "http://127.0.0.1:$PORT/affiliate/static/embed.js" && break
    kill -0 "$server_group" 2>/dev/null || { cat "$log"; echo "VERDICT: FAIL (the server exited)"; exit 1; }
    sleep 0.5
done

failures=0
for i in "${!PAGES[@]}"; do
    path=${PAGES[$i]} expected=${SHOWS[$i]}
    body=$(mktemp)
    status=$(curl -s -o "$body" -w '%{http_code}' "http://127.0.0.1:$PORT$path")
    missing=()
    IFS='|' read -r -a wanted <<<"$expected"
    for text in "${wanted[@]}"; do grep -qF -- "$text" "$body" || missing+=("$text"); done
    if [ "$status" = 200 ] && [ ${#missing[@]} -eq 0 ]; then
        echo "ok   $path: 200, $(wc -c <"$body") bytes, shows: ${expected//|/, }"
    else
        echo "FAIL $path: $status, missing: ${missing[*]:-nothing}"
        failures=$((failures + 1))
    fi
    rm -f "$body"
done

# The image's HEALTHCHECK, run as the runtime would; it asks for /readyz. A build whose app has
# no /readyz route yet is noted, not failed, if the check did reach it and got that 404.
mapfile -t health < <(image_list .Config.Healthcheck.Test)
if health_output=$(in_image "${health[@]:1}" 2>&1); then
    echo "ok   HEALTHCHECK (GET /readyz): healthy"
elif [[ $health_output == *"HTTP Error 404"* ]]; then
    echo "note HEALTHCHECK (GET /readyz): this build has no /readyz route yet (404)"
else
    echo "FAIL HEALTHCHECK (GET /readyz): ${health_output##*$'\n'}"
    failures=$((failures + 1))
fi

# Stop as a container runtime would: STOPSIGNAL to gunicorn's master, which stops its workers.
stop_signal=$(podman image inspect --format '{{.Config.StopSignal}}' "$IMAGE")
master=$(pgrep -o -g "$server_group" -f "^/opt/affiliate/bin/python3 /opt/affiliate/bin/gunicorn" || true)
[ -n "$master" ] && kill "-${stop_signal#SIG}" "$master"
for _ in $(seq 40); do kill -0 -- "-$server_group" 2>/dev/null || break; sleep 0.25; done
if kill -0 -- "-$server_group" 2>/dev/null; then
    echo "FAIL gunicorn did not stop on $stop_signal"
    failures=$((failures + 1))
else
    echo "ok   stopped on $stop_signal: $(grep -c 'Worker exiting' "$log") workers exited," \
         "master: $(grep -o 'Shutting down: Master' "$log" || echo '?')"
    server_group=""
fi
rm -f "$log"

if [ "$failures" -eq 0 ]; then
    echo "VERDICT: PASS: $IMAGE (from $BASE) serves both widgets under gunicorn as uid $(in_image id -u)"
else
    echo "VERDICT: FAIL: $failures check(s) failed"
    exit 1
fi
