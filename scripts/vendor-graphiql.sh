#!/usr/bin/env bash
# Reproduces assets/graphiql/ from the npm registry: the minified production builds of GraphiQL
# and its peers at the pinned versions below, with their licences, and a SHA256SUMS file.
# The binary embeds these files (src/http/graphiql.rs) and serves them itself: the GraphiQL
# page loads nothing from any other origin.
#
#   scripts/vendor-graphiql.sh           # rewrite assets/graphiql/ from the registry
#   scripts/vendor-graphiql.sh --check   # fetch again and compare with what is committed
#
# GraphiQL 4.1 is the last release with a UMD build (5.x is ESM only, bundled with Monaco);
# React 18.3 is the last with UMD builds (GraphiQL 4 accepts 18 or 19). graphql-ws's UMD
# build is the subscription client the page uses (graphql-transport-ws).
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL=4.1.2
REACT=18.3.1
GRAPHQL_WS=6.0.8

out=assets/graphiql
check=0
[ "${1:-}" = "--check" ] && check=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pack() { # name@version -> extracted into $work/<name>/
  local spec=$1 dir=$2
  mkdir -p "$work/$dir"
  (cd "$work" && npm pack --silent "$spec" >"$dir.name")
  tar xzf "$work/$(cat "$work/$dir.name")" -C "$work/$dir"
}
pack "graphiql@$GRAPHIQL" graphiql
pack "react@$REACT" react
pack "react-dom@$REACT" react-dom
pack "graphql-ws@$GRAPHQL_WS" graphql-ws

target=$work/out
mkdir -p "$target/licenses"
cp "$work/graphiql/package/graphiql.min.js" "$target/graphiql.min.js"
cp "$work/graphiql/package/graphiql.min.css" "$target/graphiql.min.css"
cp "$work/react/package/umd/react.production.min.js" "$target/react.production.min.js"
cp "$work/react-dom/package/umd/react-dom.production.min.js" "$target/react-dom.production.min.js"
cp "$work/graphql-ws/package/umd/graphql-ws.min.js" "$target/graphql-ws.min.js"
cp "$work/graphiql/package/LICENSE" "$target/licenses/graphiql-LICENSE"
cp "$work/react/package/LICENSE" "$target/licenses/react-LICENSE"
cp "$work/react-dom/package/LICENSE" "$target/licenses/react-dom-LICENSE"
cp "$work/graphql-ws/package/LICENSE.md" "$target/licenses/graphql-ws-LICENSE.md"
# The UMD files end with a source-map comment; the maps are not vendored, so the comment goes
# (a browser's developer tools would otherwise ask this server for a file it does not have).
for js in "$target"/*.js; do
  sed -i -e 's|^//# sourceMappingURL=.*$||' -e 's|//# sourceMappingURL=[^ ]*\.map$||' "$js"
done
cat >"$target/VERSIONS" <<VERSIONS
graphiql $GRAPHIQL (graphiql.min.js, graphiql.min.css; MIT)
react $REACT (umd/react.production.min.js; MIT)
react-dom $REACT (umd/react-dom.production.min.js; MIT)
graphql-ws $GRAPHQL_WS (umd/graphql-ws.min.js; MIT)
VERSIONS
(cd "$target" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum >SHA256SUMS)

if [ "$check" = 1 ]; then
  if diff -r "$target" "$out" >/dev/null; then
    echo "assets/graphiql matches the npm registry's packages"
  else
    diff -r "$target" "$out" | head -20
    echo "assets/graphiql differs from what the npm registry's packages give" >&2
    exit 1
  fi
else
  keep=$(ls "$out" 2>/dev/null | grep -v -e '^licenses$' -e '\.min\.' -e '^VERSIONS$' -e '^SHA256SUMS$' || true)
  [ -z "$keep" ] || { echo "unexpected files in $out: $keep" >&2; exit 1; }
  rm -rf "$out"
  cp -r "$target" "$out"
  du -sh "$out"
fi
