#!/usr/bin/env bash
# Coverage-guided fuzzing campaign (cargo fuzz, libFuzzer) over the targets
# in fuzz/: for each, one after the other, MINUTES minutes of libFuzzer on
# one core, then a line of figures: executions per second, coverage
# (libFuzzer's `cov`: edges reached; `ft`: features), the corpus it grew,
# and findings (crash-, timeout-, oom- and leak- files in
# fuzz/artifacts/TARGET/).
#
#   convert    every decoder, through the converter (first byte: format, fit, size)
#   manifest   lines, -0, CSV, TSV, JSON Lines, parquet, each also through gzip
#   headers    X-Robots-Tag, Content-Disposition, Retry-After, Content-Encoding
#   naming     URL-to-name, manifest output names, Content-Type extensions
#
# Seeds come from fixtures/ and ../shared/conformance (each prefixed with a
# selector byte, as the targets read them) plus a few written here; the
# corpus grows in fuzz/corpus/TARGET and is kept between runs (it is not
# committed). A finding is reproduced with
#   cargo fuzz run TARGET -s none fuzz/artifacts/TARGET/crash-...
# and then becomes a regression test in the normal suite (FUZZING.md).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); runs on the
# stable toolchain with `-s none` (no sanitizer: the code under test is
# safe Rust, and the C decoders are fuzzed upstream).
#
# usage: bench/fuzz.sh MINUTES [TARGET...]   (default: all four)
# env:   NICE (10), OUT (Markdown; default bench/results-fuzz-DATE.md;
#        bench/results-fuzz.md is the one kept, with notes)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

minutes=${1:?usage: bench/fuzz.sh MINUTES [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(convert manifest headers naming)
nice_level=${NICE:-10}
cargo fuzz --version >/dev/null 2>&1 \
  || die "cargo-fuzz not found: cargo install cargo-fuzz --locked"
FUZZ="$REPO_ROOT/fuzz"
SHARED=$(cd "$REPO_ROOT/.." && pwd)/shared/conformance
MD=${OUT:-$BENCH_DIR/results-fuzz-$(date +%Y%m%d-%H%M%S).md}
make_scratch fuzz

# seed DIR SELECTOR FILE : FILE's bytes behind a selector byte, into DIR.
seed() {
  local dir=$1 sel=$2 file=$3
  { printf "\\$(printf '%03o' "$sel")"; cat "$file"; } > "$dir/$(basename "$file").$sel"
}

# seed_text DIR SELECTOR TEXT : TEXT behind a selector byte.
n_text=0
seed_text() {
  n_text=$((n_text + 1))
  { printf "\\$(printf '%03o' "$2")"; printf '%s' "$3"; } > "$1/text-$n_text"
}

seeds() {
  local t=$1 dir="$SCRATCH/seeds/$1" i=0 f
  mkdir -p "$dir"
  case $t in
    convert)
      for f in "$REPO_ROOT"/fixtures/formats/*.* "$REPO_ROOT"/fixtures/pngsuite/*.png \
               "$REPO_ROOT"/fixtures/exif/*.jpg "$SHARED"/*/*.png "$SHARED"/*/*.jpg; do
        [ -f "$f" ] || continue
        case $f in *.md) continue ;; esac
        seed "$dir" $(( (i * 37) % 256 )) "$f"; i=$((i + 1))
      done ;;
    manifest)
      seed "$dir" 5 "$REPO_ROOT/fixtures/manifests/malformed-row-group.parquet"
      seed "$dir" 0 "$REPO_ROOT/fixtures/exif/LICENSE"
      seed_text "$dir" 0 $'a.png\n# comment\n\n  b c.jpg  \r\nhttps://example.com/x.jpg\n'
      seed_text "$dir" 1 $'a.png\0b\nc.png\0\0# d.png\0'
      seed_text "$dir" 2 $'\xEF\xBB\xBFpath,output,sha256\na.png,x/a.jpg,\n"q,""u"".png",b.png,abc\nc.png\n,\n'
      seed_text "$dir" 0x22 $'url,caption\nhttps://e.com/a.jpg,"two\nlines"\nhttps://e.com/b.jpg,x\n'
      seed_text "$dir" 3 $'url\toutput\nhttps://e.com/a\ta.png\n"tab\tin"\tb.png\n'
      seed_text "$dir" 4 $'{"url": "https://e.com/a.jpg", "output": "a.jpg", "n": 1.5}\n"bare.png"\n{"path": 3}\n'
      seed_text "$dir" 0x8c $'{"url": "https://e.com/a.jpg", "caption": "x"}\n'
      seed_text "$dir" 0x0a $'path,output\na.png,b.png\n' ;;
    headers)
      seed_text "$dir" 0 $'noai, noimageai\npixmill: noindex\notherbot: noai\nunavailable_after: 25 Jun 2010'
      seed_text "$dir" 1 "attachment; filename=\"a b.jpg\"; filename*=UTF-8''%E2%82%AC%20rates.jpg"
      seed_text "$dir" 1 "inline; filename=\"..\\\\..\\\\evil.png\""
      seed_text "$dir" 2 "120"
      seed_text "$dir" 2 "Wed, 21 Oct 2015 07:28:00 GMT"
      seed_text "$dir" 2 "Sunday, 06-Nov-94 08:49:37 GMT"
      seed_text "$dir" 2 "Sun Nov  6 08:49:37 1994"
      seed_text "$dir" 3 $'gzip\nbr, identity\nx-gzip' ;;
    naming)
      seed_text "$dir" 0 "https://example.com/photos/a%20b.jpg?x=1#f"
      seed_text "$dir" 0 "https://ex.com/%2e%2e/%2F..%5Cetc/passwd"
      seed_text "$dir" 0 "https://xn--bcher-kva.example/download.php?id=7"
      seed_text "$dir" 1 "a/./b/../c.png"
      seed_text "$dir" 1 "/etc/passwd"
      seed_text "$dir" 2 "image/jpeg; charset=binary" ;;
  esac
}

note "building the fuzz targets (cargo fuzz build -s none)"
(cd "$REPO_ROOT" && nice -n "$nice_level" cargo fuzz build -s none >&2)
bin_dir="$FUZZ/target/$(rustc -vV | sed -n 's/^host: //p')/release"

{
  echo "# Coverage-guided fuzzing, $(date -u +%Y-%m-%d)"
  echo
  echo "\`bench/fuzz.sh $minutes\`: $minutes min per target, one target at a time on one"
  echo "core (nice $nice_level), cargo-fuzz $(cargo fuzz --version | awk '{print $2}'), libFuzzer, \`-s none\`,"
  echo "release build with debug assertions."
  echo
  echo "| target | runs | execs/s | cov (edges) | ft (features) | corpus | peak RSS MB | findings (files; distinct) |"
  echo "|---|---|---|---|---|---|---|---|"
} | tee "$MD"

for t in "${targets[@]}"; do
  seeds "$t"
  mkdir -p "$FUZZ/corpus/$t" "$FUZZ/artifacts/$t"
  log="$SCRATCH/$t.log"
  : >"$log"
  touch "$SCRATCH/$t.start"
  note "fuzzing $t for $minutes min"
  # libFuzzer stops at a finding; it is started again (on the corpus grown
  # so far) until the time is used, so one finding does not end a campaign.
  deadline=$(( $(date +%s) + minutes * 60 ))
  starts=0
  while left=$(( deadline - $(date +%s) )); [ "$left" -gt 5 ] && [ "$starts" -lt 30 ]; do
    starts=$((starts + 1))
    # The built binary itself, not `cargo fuzz run`: no cargo lock is held
    # for the campaign's length.
    nice -n "$nice_level" "$bin_dir/$t" "$FUZZ/corpus/$t" "$SCRATCH/seeds/$t" \
       -max_total_time="$left" -max_len=65536 -timeout=10 \
       -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$FUZZ/artifacts/$t/" >>"$log" 2>&1 || true
  done
  runs=$(awk '/stat::number_of_executed_units/ {n += $NF} END {print n + 0}' "$log")
  speed=$(awk -v runs="$runs" -v s="$minutes" 'BEGIN {printf "%.0f", runs / (s * 60)}')
  peak=$(awk '/stat::peak_rss_mb/ {if ($NF > p) p = $NF} END {print p + 0}' "$log")
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  found=$(find "$FUZZ/artifacts/$t" -type f -newer "$SCRATCH/$t.start" | wc -l)
  # Distinct findings: by where the panic was raised.
  kinds=$(grep -oE "panicked at [^ ]+|ERROR: libFuzzer: [a-z-]+" "$log" | sort | uniq -c \
          | awk '{$1 = $1 "x"; print}' | paste -sd ';' - || true)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s %s |\n' "$t" "$runs" "$speed" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$peak" "$found" "${kinds:+($kinds)}" | tee -a "$MD"
  cp "$log" "$FUZZ/artifacts/$t.last-run.log"
done
note "wrote $MD"
