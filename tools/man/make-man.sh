#!/bin/sh
# make-man.sh PROCSLINK OUT_DIR: man pages for the CLI made with help2man from its --help:
# procslink.1, and procslink-SUBCOMMAND.1 for each subcommand `procslink --help` lists.
set -eu
cli=$1
out=$2
mkdir -p "$out"
version=$("$cli" --version | sed 's/^procslink //')
help2man -N --version-string="$version" --name="JSON-RPC 2.0 between Linux namespaces over netlink" \
  -o "$out/procslink.1" "$cli"
wrapper=$(mktemp -d)
trap 'rm -rf "$wrapper"' EXIT
"$cli" --help | sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' |
  while read -r sub; do
    # help2man runs a program with --help and --version: a wrapper gives it the subcommand's.
    printf '#!/bin/sh\n[ "$1" = --version ] && exec "%s" --version\nexec "%s" %s "$@"\n' \
      "$cli" "$cli" "$sub" >"$wrapper/procslink-$sub"
    chmod +x "$wrapper/procslink-$sub"
    description=$("$cli" "$sub" --help | head -n 1 | cut -c1-200)
    help2man -N --version-string="$version" --name="$description" \
      -o "$out/procslink-$sub.1" "$wrapper/procslink-$sub"
  done
