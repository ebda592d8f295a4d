#!/usr/bin/env bash
# The container image, tested where no base image can be pulled: builds the Dockerfile's
# runtime stage (FROM scratch) around a static musl binary built here, then runs it
#   1. on SQLite in development mode: the demo's tokens printed in its log, a query with one;
#   2. in production against the host's PostgreSQL: `token` run in the image, a query with it;
# and checks the user is not root and `smallpay healthcheck` answers inside the container.
# Prints a notice and exits 0 where Podman cannot run (no podman, or no user namespaces).
#
#   scripts/image-test.sh            # debug binary (CI); PROFILE=release for the release one
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v podman >/dev/null; then
  echo "notice: podman not installed: the image test is skipped (apt-get install podman runc)"
  exit 0
fi
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
if ! "${podman[@]}" info >/dev/null 2>&1; then
  echo "notice: podman cannot run here: the image test is skipped"
  exit 0
fi
profile=${PROFILE:-debug}
target=x86_64-unknown-linux-musl
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
if ! command -v musl-gcc >/dev/null; then
  echo "musl-gcc not found (apt-get install musl-tools): the C in SQLite, mimalloc and ring needs it" >&2
  exit 1
fi
flag=$([ "$profile" = release ] && echo --release || true)
cargo build --locked $flag --target "$target" -p smallpay --bin smallpay
bin=target/$target/$profile/smallpay
if ldd "$bin" 2>&1 | grep -q '=>'; then
  echo "$bin is not static" >&2
  exit 1
fi

work=$(mktemp -d)
tag="localhost/smallpay-image-test:$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db="smallpay_image_$$"
containers=()
cleanup() {
  for c in "${containers[@]}"; do "${podman[@]}" rm -f "$c" >/dev/null 2>&1 || true; done
  "${podman[@]}" volume rm -f "smallpay-image-test-$$" >/dev/null 2>&1 || true
  "${podman[@]}" rmi -f "$tag" >/dev/null 2>&1 || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/context/data"
cp "$bin" "$work/context/smallpay"
"${podman[@]}" build --quiet --format docker --target runtime --build-arg BINARY_STAGE=prebuilt \
  -f Dockerfile -t "$tag" "$work/context" >/dev/null
user=$("${podman[@]}" image inspect --format '{{.Config.User}}' "$tag")
[ "$user" = "10001:10001" ] || { echo "the image runs as '$user', not 10001:10001" >&2; exit 1; }
echo "image: built, runs as $user, $(du -h "$bin" | cut -f1) binary, nothing else"

# Podman cannot schedule the image's HEALTHCHECK without systemd here (it says so, harmlessly):
# `smallpay healthcheck` is run by `exec` below instead.
once=("${podman[@]}" run --rm --network host --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
run=("${podman[@]}" run --detach --network host --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
wait_ready() {
  for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  "${podman[@]}" logs "$1" >&2 || true
  echo "the container did not become ready" >&2
  exit 1
}
query() {
  curl -fsS "http://127.0.0.1:$port/graphql" -H "Authorization: Bearer $1" \
    -H 'content-type: application/json' -d "$2"
}

# 1. SQLite on the image's volume, development mode (loopback only: the host's network).
"${podman[@]}" volume create "smallpay-image-test-$$" >/dev/null
c=$("${run[@]}" -v "smallpay-image-test-$$:/data" -e SMALLPAY_ENV=development \
  -e SMALLPAY_BIND="127.0.0.1:$port" -e SMALLPAY_LOG_FORMAT=text "$tag")
containers+=("$c")
wait_ready "$c"
token=""
for _ in $(seq 1 20); do
  token=$("${podman[@]}" logs "$c" 2>/dev/null | awk '$1 == "admin" { print $3 }' | head -n 1)
  [ -n "$token" ] && break
  sleep 0.5
done
[ -n "$token" ] || { "${podman[@]}" logs "$c"; echo "no token printed" >&2; exit 1; }
answer=$(query "$token" '{"query":"{ me { role } orders { totalCount } }"}')
echo "sqlite: $answer"
echo "$answer" | grep -q '"role":"ADMIN"' && echo "$answer" | grep -q '"totalCount":6'
"${podman[@]}" exec "$c" /smallpay healthcheck
"${podman[@]}" exec "$c" /smallpay healthcheck --ready
"${podman[@]}" exec "$c" /smallpay settings | grep -q '^database_url = "sqlite://smallpay.db?mode=rwc"  # from the default'
"${podman[@]}" stop --time 20 "$c" >/dev/null
"${podman[@]}" rm "$c" >/dev/null

# 2. PostgreSQL on the host, production mode (the image's defaults), a token minted by the image.
psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db"
secret="image-test-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
seal="image-test-seal-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
env=(-e DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" -e SMALLPAY_JWT_SECRET="$secret"
  -e SMALLPAY_SEAL_KEY="$seal" -e SMALLPAY_BIND="127.0.0.1:$port")
c=$("${run[@]}" "${env[@]}" "$tag")
containers+=("$c")
wait_ready "$c"
platform=$("${once[@]}" "${env[@]}" "$tag" token --role platform)
answer=$(query "$platform" '{"query":"mutation { syncShop(input: {id: \"img\", name: \"Image\", openingBalance: \"12.34\", zeroEntry: false, depositPaid: true, hasUnpaidBills: false}) { id balance } }"}')
echo "postgres: $answer"
echo "$answer" | grep -q '"balance":"12.34"'
[ "$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc "SELECT count(*) FROM shops WHERE id = 'img'")" = 1 ]
# The log is stderr (stdout has only `listening on …`): every line of it one JSON object.
"${podman[@]}" logs "$c" 2>"$work/stderr.log" >/dev/null
[ -s "$work/stderr.log" ] && ! grep -qv '^{' "$work/stderr.log" ||
  { cat "$work/stderr.log" >&2; echo "production logs are not JSON lines" >&2; exit 1; }
if "${podman[@]}" logs "$c" 2>&1 | grep -qF -e "$secret" -e "$seal"; then
  echo "a secret reached the container's log" >&2
  exit 1
fi

# compose.yaml: parsed and resolved by podman-compose (installed from PyPI when missing).
if ! command -v podman-compose >/dev/null; then
  timeout 120 python3 -m pip install -q podman-compose >/dev/null 2>&1 || true
fi
if command -v podman-compose >/dev/null; then
  POSTGRES_PASSWORD=p SMALLPAY_JWT_SECRET=s SMALLPAY_SEAL_KEY=k podman-compose -f compose.yaml config >"$work/compose.txt"
  for service in postgres migrate smallpay-1 smallpay-2 smallpay-3 haproxy; do
    grep -q "^  $service:" "$work/compose.txt" || { echo "compose.yaml: no service $service" >&2; exit 1; }
  done
  echo "compose.yaml: valid (podman-compose config)"
else
  echo "notice: podman-compose not available: compose.yaml not checked"
fi
if command -v haproxy >/dev/null; then
  haproxy -c -q -f deploy/haproxy.cfg && echo "deploy/haproxy.cfg: valid (haproxy -c)"
fi
echo "image test: ok"
