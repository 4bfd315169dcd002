#!/usr/bin/env bash
# Installs a built procslink into a scratch prefix and builds consumers against it as a
# stranger would: with CMake (find_package, no C++ standard set; an executable and a shared
# library) and with pkg-config. Runs each.
#
#   check.sh BUILD_DIR           the static library of an existing build
#   check.sh --shared SOURCE_DIR  configures and builds a shared libprocslink first (SOVERSION)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix

if [ "$1" = --shared ]; then
  # What this checks is how the shared library is built, named, installed and found; its code is
  # what every other test runs. So only the library is built, at -O0 without debug information
  # (~120 s of CPU; with the CLI at the default RelWithDebInfo it was ~320 s), and only the
  # default install component: the library, its headers, its CMake and pkg-config files.
  cmake -S "$2" -B "$scratch/lib" -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DPROCSLINK_BUILD_TESTS=OFF -DPROCSLINK_BUILD_BENCH=OFF \
    -DPROCSLINK_PYTHON=OFF >/dev/null
  cmake --build "$scratch/lib" -j "$(nproc)" --target procslink >/dev/null
  cmake --install "$scratch/lib" --prefix "$prefix" --component Unspecified >/dev/null
  version=$(sed -n 's/^Version: //p' "$prefix"/lib*/pkgconfig/procslink.pc)
  soname=$(readelf -d "$prefix"/lib*/libprocslink.so | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
  expected=libprocslink.so.${version%.*}
  [ "$soname" = "$expected" ] || { echo "SONAME is '$soname', expected $expected"; exit 1; }
  echo "shared library: SONAME $soname"
else
  cmake --install "$1" --prefix "$prefix" >/dev/null
fi

expect() {  # LABEL OUTPUT EXPECTED
  [ "$2" = "$3" ] || { printf '%s printed:\n%s\nexpected:\n%s\n' "$1" "$2" "$3"; exit 1; }
}
version=$(sed -n 's/^Version: //p' "$prefix"/lib*/pkgconfig/procslink.pc)

cmake -S "$here" -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
expect consumer "$("$scratch/consumer/consumer")" "$(printf '19\n%s %s' "$version" "$version")"
expect plugin_user "$("$scratch/consumer/plugin_user")" 19
echo "find_package(procslink): an executable and a shared library build, link and run"

export PKG_CONFIG_PATH=$(echo "$prefix"/lib*/pkgconfig)
# CXXFLAGS and LDFLAGS as CMake takes them from the environment (scripts/sanitize sets them so a
# consumer of the sanitized library links the sanitizer runtime).
# shellcheck disable=SC2046,SC2086  # pkg-config's and the flags' words are meant to split
g++ ${CXXFLAGS:-} -o "$scratch/pc_consumer" "$here/consumer.cpp" \
  $(pkg-config --cflags --libs procslink) ${LDFLAGS:-} \
  -Wl,-rpath,"$(pkg-config --variable=libdir procslink)"
expect pkg-config-consumer "$("$scratch/pc_consumer")" "$(printf '19\n%s %s' "$version" "$version")"
echo "pkg-config procslink: a consumer builds, links and runs"
