#!/usr/bin/env bash
# Builds the release tarball: target/dist/rserve-<version>-<target>.tar.gz, laid
# out like a prefix (unpack into /usr/local or /opt/rserve; docs/operations.md,
# "Install", says where each file goes):
#
#   rserve-<version>-<target>/
#     bin/rserve                                    the binary (release, stripped)
#     share/man/man1/rserve*.1                      man pages
#     share/bash-completion/completions/rserve      bash completion
#     share/zsh/site-functions/_rserve              zsh completion
#     share/fish/vendor_completions.d/rserve.fish   fish completion
#     share/rserve/completions/{_rserve.ps1,rserve.elv}  PowerShell, elvish
#     share/rserve/examples/*.toml                  application files
#     share/rserve/systemd/*.service                systemd units
#     share/doc/rserve/README.md
#
#   scripts/package.sh [--target TRIPLE] [--features cuda]
#
# The man pages and completions are the checked-in ones (a test keeps them equal
# to what the binary generates). Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=""
FEATURES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET="$2"; shift 2 ;;
    --features) FEATURES=(--features "$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

HOST=$(rustc -vV | sed -n 's/^host: //p')
TRIPLE="${TARGET:-$HOST}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
TARGET_ARGS=()
BUILT="$TARGET_DIR/release/rserve"
if [ -n "$TARGET" ]; then
  TARGET_ARGS=(--target "$TARGET")
  BUILT="$TARGET_DIR/$TARGET/release/rserve"
fi

cargo build --release --locked -p rserve "${TARGET_ARGS[@]}" "${FEATURES[@]}" >&2
VERSION=$("$BUILT" --version | awk '{print $2}') || VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

NAME="rserve-$VERSION-$TRIPLE"
DIST=target/dist
STAGE="$DIST/$NAME"
rm -rf "$STAGE"
mkdir -p "$STAGE/bin" "$STAGE/share/man/man1" \
  "$STAGE/share/bash-completion/completions" "$STAGE/share/zsh/site-functions" \
  "$STAGE/share/fish/vendor_completions.d" "$STAGE/share/rserve/completions" \
  "$STAGE/share/rserve/examples" "$STAGE/share/rserve/systemd" "$STAGE/share/doc/rserve"

install -m 0755 "$BUILT" "$STAGE/bin/rserve"
# Debug info and symbols are most of a release binary's size; a crash report
# still names the panic and its message.
"${STRIP:-strip}" "$STAGE/bin/rserve"
install -m 0644 man/*.1 "$STAGE/share/man/man1/"
install -m 0644 completions/rserve.bash "$STAGE/share/bash-completion/completions/rserve"
install -m 0644 completions/_rserve "$STAGE/share/zsh/site-functions/_rserve"
install -m 0644 completions/rserve.fish "$STAGE/share/fish/vendor_completions.d/rserve.fish"
install -m 0644 completions/_rserve.ps1 completions/rserve.elv "$STAGE/share/rserve/completions/"
install -m 0644 examples/*.toml "$STAGE/share/rserve/examples/"
install -m 0644 examples/*.service "$STAGE/share/rserve/systemd/"
install -m 0644 README.md "$STAGE/share/doc/rserve/"

# A binary that cannot run here (cross target) is not checked.
if [ "$TRIPLE" = "$HOST" ]; then
  "$STAGE/bin/rserve" --version >/dev/null
fi
# Fixed order, owners and times (SOURCE_DATE_EPOCH, else the commit's time), so
# the archive's layout does not depend on who built it when.
EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$EPOCH" \
  -C "$DIST" -cf - "$NAME" | gzip -n >"$DIST/$NAME.tar.gz"
rm -rf "$STAGE"
echo "$DIST/$NAME.tar.gz"
