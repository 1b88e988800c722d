# Shared helpers for the bench/*.sh scripts. Source it; do not run it.
#   . "$(dirname "$0")/lib.sh"
# Provides: BENCH_DIR, REPO_ROOT, die, note, need, need_pil, find_pixmill,
# find_imagemagick, now, elapsed, stats, count_outputs, link_into,
# and a round runner (run_rounds) with a summary table (summarize).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
JOBS=${JOBS:-$(nproc)}

die()  { echo "error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# need CMD... : fail loudly when a peer tool is missing.
need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 \
      || die "'$c' not found. Install the peer tools once, as root: bash $BENCH_DIR/peers.sh"
  done
}

need_pil() {
  python3 -c 'import PIL' 2>/dev/null \
    || die "python3 cannot import PIL (Pillow). Install the peer tools once, as root: bash $BENCH_DIR/peers.sh"
}

# find_pixmill: sets PIXMILL. $PIXMILL wins; otherwise target/release/pixmill,
# built with cargo if it is missing.
find_pixmill() {
  local default="$REPO_ROOT/target/release/pixmill"
  PIXMILL=${PIXMILL:-$default}
  if [ ! -x "$PIXMILL" ]; then
    [ "$PIXMILL" = "$default" ] || die "PIXMILL=$PIXMILL is not an executable file"
    need cargo
    note "building pixmill (cargo build --release)"
    (cd "$REPO_ROOT" && cargo build --release) || die "cargo build --release failed"
    [ -x "$PIXMILL" ] || die "cargo build did not produce $PIXMILL"
  fi
}

# find_imagemagick: sets IM to a command that really is ImageMagick.
# Prefers IM7's `magick`, then Debian's /usr/bin/convert (IM6). A `convert`
# earlier in PATH may be something else (this project's dev machine has a
# stand-in in /usr/local/bin), so every candidate must say it is ImageMagick.
find_imagemagick() {
  local c
  for c in magick /usr/bin/magick /usr/bin/convert convert-im6.q16 convert; do
    if command -v "$c" >/dev/null 2>&1 \
       && "$c" -version 2>/dev/null | grep -q '^Version: ImageMagick'; then
      IM=$(command -v "$c"); return 0
    fi
  done
  die "ImageMagick not found (tried magick, /usr/bin/convert, convert). Install the peer tools once, as root: bash $BENCH_DIR/peers.sh"
}

# make_scratch NAME : sets SCRATCH to a fresh absolute temp dir, removed on
# exit. Absolute matters: vipsthumbnail resolves a relative -o against each
# INPUT's directory, i.e. it would write into (and can clobber) the corpus.
make_scratch() {
  SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/pixmill-$1.XXXXXX")
  SCRATCH=$(cd "$SCRATCH" && pwd)
  trap 'rm -rf "$SCRATCH"' EXIT
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# stats FILE : prints "median min" of the numbers in FILE (one per line).
stats() {
  sort -g "$1" | awk '{ v[NR] = $1 }
    END { if (NR == 0) { print "nan nan"; exit }
          m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          printf "%.3f %.3f\n", m, v[1] }'
}

# count_outputs DIR : non-empty regular files under DIR.
count_outputs() { find "$1" -type f -size +0 | wc -l; }

# image_list DIR : image files under DIR (recursive), NUL-separated.
image_list() {
  find "$1" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \
    -o -iname '*.webp' -o -iname '*.tif' -o -iname '*.tiff' \) -print0 | sort -z
}

# link_into DEST FILE... : hard-link (or copy, across filesystems) files
# into DEST, flat. Dies if two inputs share a name stem, since the tools
# name outputs by stem and would overwrite each other.
link_into() {
  local dest=$1 f base stem; shift
  mkdir -p "$dest"
  for f in "$@"; do
    base=$(basename "$f"); stem=${base%.*}
    if compgen -G "$dest/$stem.*" >/dev/null; then
      die "two inputs share the name stem '$stem' ($f); outputs would collide"
    fi
    ln "$f" "$dest/$base" 2>/dev/null || cp "$f" "$dest/$base"
  done
}

# ---- round runner ----------------------------------------------------------
# The calling script defines:
#   bench_run  LABEL OUTDIR   runs one tool for the current workload ($W)
#   bench_check LABEL OUTDIR  prints nothing if the outputs are right, else
#                             a short description of what is wrong
# run_rounds W ROUNDS LABEL... times every LABEL once per round, in a fresh
# empty OUTDIR, alternating tools and rotating their order each round.
# Times land in $SCRATCH/times/W/LABEL, problems in $SCRATCH/bad/W/LABEL.
run_rounds() {
  # Locals are prefixed: bench_run/bench_check see them (dynamic scope).
  local w=$1 rounds=$2; shift 2
  local _labels=("$@") _n=$# _r _i _label _out _t0 _t1 _rc _problem _log
  mkdir -p "$SCRATCH/times/$w" "$SCRATCH/bad/$w" "$SCRATCH/logs/$w"
  for ((_r = 0; _r < rounds; _r++)); do
    for ((_i = 0; _i < _n; _i++)); do
      _label=${_labels[$(((_i + _r) % _n))]}
      _out="$SCRATCH/out/$w"
      rm -rf "$_out"; mkdir -p "$_out"
      _log="$SCRATCH/logs/$w/$_label.$_r"
      W=$w
      _t0=$(now)
      if bench_run "$_label" "$_out" >"$_log" 2>&1; then _rc=0; else _rc=$?; fi
      _t1=$(now)
      echo "$(elapsed "$_t0" "$_t1")" >>"$SCRATCH/times/$w/$_label"
      _problem=$(bench_check "$_label" "$_out")
      [ "$_rc" -eq 0 ] || _problem="exit $_rc: $(tail -n 2 "$_log" | tr '\n' ' ' | cut -c1-120) $_problem"
      if [ -n "$_problem" ]; then
        echo "round $((_r + 1)): $_problem" >>"$SCRATCH/bad/$w/$_label"
        note "$w/$_label round $((_r + 1)): FLAGGED: $_problem"
      fi
      printf '  %-4s round %d/%d  %-22s %6ss%s\n' "$w" $((_r + 1)) "$rounds" "$_label" \
        "$(tail -n 1 "$SCRATCH/times/$w/$_label")" "${_problem:+  (FLAGGED)}" >&2
    done
  done
  rm -rf "$SCRATCH/out/$w"
}

# summarize W TITLE BASE LABEL... : prints a table (tool, median, min, ratio
# to BASE, flags) to stdout and as Markdown to $MD, then "BASE / best peer".
# Tools with flagged runs are shown but not counted as the best peer.
# BEST_LINE=0 leaves out the best-peer line.
summarize() {
  local w=$1 title=$2 base=$3; shift 3
  local label med min bmed ratio flag best="" bestlab=""
  read -r bmed _ < <(stats <(grep . "$SCRATCH/times/$w/$base"))
  printf '\n== %s\n%-24s %10s %10s %10s  %s\n' "$title" tool "median s" "min s" "÷ $base" outputs
  {
    printf '\n### %s\n\n| tool | median s | min s | ÷ %s | outputs |\n|---|---:|---:|---:|---|\n' "$title" "$base"
  } >>"$MD"
  for label in "$base" "$@"; do
    read -r med min < <(stats <(grep . "$SCRATCH/times/$w/$label"))
    ratio=$(awk -v a="$med" -v b="$bmed" 'BEGIN { printf (b > 0 ? "%.2f" : "nan"), (b > 0 ? a / b : 0) }')
    if [ -s "$SCRATCH/bad/$w/$label" ]; then
      flag="FLAGGED: $(head -n 1 "$SCRATCH/bad/$w/$label") ($(wc -l <"$SCRATCH/bad/$w/$label") bad runs)"
    else
      flag=ok
      if [ "$label" != "$base" ] && [[ "$label" != "$base"-* ]] && { [ -z "$best" ] || awk -v a="$med" -v b="$best" 'BEGIN { exit !(a < b) }'; }; then
        best=$med; bestlab=$label
      fi
    fi
    printf '%-24s %10s %10s %10s  %s\n' "$label" "$med" "$min" "$ratio" "$flag"
    printf '| %s | %s | %s | %s | %s |\n' "$label" "$med" "$min" "$ratio" "${flag//|/\\|}" >>"$MD"
  done
  if [ "${BEST_LINE:-1}" = 0 ]; then
    :   # the caller reports its own ratio
  elif [ -s "$SCRATCH/bad/$w/$base" ]; then
    echo "$base / best peer = n/a ($base runs were flagged)"
    printf '\n**%s / best peer = n/a (%s runs were flagged)**\n' "$base" "$base" >>"$MD"
  elif [ -n "$best" ]; then
    local x; x=$(awk -v a="$bmed" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
    printf '%s / best peer (%s) = %s\n' "$base" "$bestlab" "$x"
    printf '\n**%s / best peer (%s) = %s**\n' "$base" "$bestlab" "$x" >>"$MD"
  else
    echo "$base / best peer = n/a (no peer ran cleanly)"
    printf '\n**%s / best peer = n/a (no peer ran cleanly)**\n' "$base" >>"$MD"
  fi
}

# md_header TITLE : starts $MD with the machine and tool versions.
md_header() {
  {
    echo "# $1"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/^Mem:/ { print $2 " GB RAM" }')"
    echo "- pixmill: \`$PIXMILL\` ($("$PIXMILL" --version 2>/dev/null | head -n 1 || echo 'no --version'))"
    echo "- git: $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  } >"$MD"
}
