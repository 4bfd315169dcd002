#!/usr/bin/env bash
# Installs the built tree into a scratch prefix, builds tests/package against it, runs it.
set -euo pipefail
build=$1
source_dir=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
cmake -S "$source_dir" -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
output=$("$scratch/consumer/consumer")
[ "$output" = "19" ] || { echo "consumer printed '$output', expected 19"; exit 1; }
echo "installed package: find_package(procslink) builds and runs a consumer"
