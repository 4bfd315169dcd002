# Shared by scripts/demo, scripts/test, scripts/bench, scripts/sanitize, scripts/fuzz: install
# what is missing, then configure and build, showing what is going on.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${PROCSLINK_BUILD_DIR:-$ROOT/build}
# What building the library, the CLI and the examples needs (and the demo runs with).
BUILD_PACKAGES=(cmake make g++ pkg-config nlohmann-json3-dev libcli11-dev iproute2 util-linux
                procps pybind11-dev python3-dev python3-future)
# What the tests add.
# tshark checks the captures monitor writes and runs the Wireshark dissector; help2man makes the
# man pages the install test looks for; pytest, venv, setuptools and wheel test the Python package.
TEST_PACKAGES=(libgtest-dev libgmock-dev libbenchmark-dev tshark help2man python3-pytest
               python3-venv python3-setuptools python3-wheel)

# Installs BUILD_PACKAGES and the packages named as arguments, where missing.
ensure_packages() {
  local missing=()
  for p in "${BUILD_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "== installing ${#missing[@]} Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  # One line per package as it is set up, so a long install shows its progress.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    "${missing[@]}" | grep --line-buffered -E '^(Setting up|E:)' | sed -u 's/^/   /' || true
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      { echo "could not install $p" >&2; exit 1; }
  done
}

# configure [CMAKE_ARGS...]: configures $BUILD (RelWithDebInfo).
configure() {
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPython3_EXECUTABLE=/usr/bin/python3 "$@" >/dev/null
}

# build [CMAKE_ARGS...]: configures, then builds everything, with CMake's progress lines.
build() {
  configure "$@"
  cmake --build "$BUILD" -j "$(nproc)"
}
