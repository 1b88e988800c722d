# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pixmill_global_optspecs
    string join \n h/help V/version
end

function __fish_pixmill_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pixmill_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pixmill_using_subcommand
    set -l cmd (__fish_pixmill_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pixmill -n "__fish_pixmill_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pixmill -n "__fish_pixmill_needs_command" -s V -l version -d 'Print version'
complete -c pixmill -n "__fish_pixmill_needs_command" -f -a "convert" -d 'Convert images (files, folders, manifests, URLs) to other sizes and formats'
complete -c pixmill -n "__fish_pixmill_needs_command" -f -a "fetch" -d 'Download a list of URLs into a folder (any file type, bytes unchanged)'
complete -c pixmill -n "__fish_pixmill_needs_command" -f -a "formats" -d 'List the image formats this build reads and writes'
complete -c pixmill -n "__fish_pixmill_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c pixmill -n "__fish_pixmill_needs_command" -f -a "man" -d 'Print the man page (roff) on stdout, e.g. `pixmill man | man -l -`'
complete -c pixmill -n "__fish_pixmill_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s m -l manifest -d 'Read entries from a manifest file (`-` = stdin); may be repeated' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l manifest-format -d 'Manifest format; by default parquet by content, else by extension (.csv, .tsv, .jsonl, .parquet, else lines)' -r -f -a "lines\t''
csv\t''
tsv\t''
jsonl\t''
parquet\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l include -d 'Only take files whose path (relative to the folder walked) matches this glob; may be repeated' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l exclude -d 'Skip files and folders whose relative path matches this glob; may be repeated' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l iinclude -d 'As --include, ignoring case (`--iinclude \'*.jpg\'` takes IMG_0001.JPG)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l iexclude -d 'As --exclude, ignoring case' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l max-depth -d 'Descend at most this many levels below each folder given' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l shard -d 'Process only the entries of shard I of N (by a stable hash of each input), e.g. `--shard 0/4`; `auto` takes I and N from a Slurm array task or a Kubernetes indexed job (see docs/clusters.md)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l url-col -d 'The CSV/TSV/JSON Lines/parquet column holding the URL or path (default: url, path, input or file)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l caption-col -d 'The column holding each image\'s caption (default: caption, when present)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l hash-col -d 'A column holding a digest downloads must have, and its algorithm (md5, sha1, sha256, sha512); repeatable. Columns named md5, sha1, sha256 and sha512 are checked without it' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l max-manifest-line -d 'Longest manifest line, CSV/TSV row or parquet row\'s text (e.g. 4M); a longer one fails alone, with its line number, and is never held in memory' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s o -l output -d 'Output folder (created if missing). Nothing is written outside it' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l on-exists -d 'When an output already exists: update (redo it unless it is up to date: same input, same settings, intact), skip (keep whatever exists), overwrite (always redo), fail' -r -f -a "update\t''
skip\t''
overwrite\t''
fail\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l output-format -d 'How outputs are stored: loose files, WebDataset tar shards, or parquet shards (image bytes in a column)' -r -f -a "files\t''
webdataset\t''
parquet\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l samples-per-file -d 'With webdataset or parquet output: at most this many input rows per data file' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l hash -d 'Digest each item\'s input bytes (as downloaded or read) into its record and the dataset metadata' -r -f -a "sha256\t''
md5\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l report -d 'Write one JSON record per item to FILE (JSON Lines)' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s r -l resize -d 'Resize to fit a box: `WxH`, `W` (width only) or `xH` (height only); or scale by a percentage, `50%`' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l fit -d 'How to fit the box: inside (keep aspect), cover (crop to fill), fill (stretch), contain (letterbox), outside (shorter side to the box, no crop)' -r -f -a "inside\t''
cover\t''
fill\t''
contain\t''
outside\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l crop -d 'Which part `--fit cover` keeps: centre, entropy (the busiest region) or attention (skin tones, saturated colour and edges), chosen on the shrunk image; the record gives the window kept' -r -f -a "centre\t''
entropy\t''
attention\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l gravity -d 'A fixed place for the `--fit cover` window: north, south, east, west, northeast, northwest, southeast, southwest or centre' -r -f -a "north\t''
south\t''
east\t''
west\t''
northeast\t''
northwest\t''
southeast\t''
southwest\t''
centre\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l filter -d 'Resampling filter' -r -f -a "nearest\t''
box\t''
bilinear\t''
hamming\t''
catmullrom\t''
mitchell\t''
gaussian\t''
lanczos3\t''
area\t'Area average when reducing, Lanczos3 when enlarging (OpenCV\'s INTER_AREA, img2dataset\'s default); decodes JPEGs smaller, so faster and a little softer'"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s f -l format -d 'Output format (default: same as the input\'s)' -r -f -a "jpeg\t''
png\t''
webp\t''
gif\t''
bmp\t''
tiff\t''
avif\t'AVIF (AV1 in HEIF), when built with the `heif` feature'"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l quality -d 'Quality for JPEG and lossy WebP, 1–100' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l compression -d 'PNG and TIFF compression (zlib level), 0 (none, fastest) to 9 (smallest, slowest)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l effort -d 'WebP encoding effort (libwebp method), 0 (fastest) to 6 (smallest)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l subsampling -d 'JPEG chroma subsampling (default: 420 below --quality 90, 444 from 90)' -r -f -a "444\t''
422\t''
420\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l background -d 'Colour for flattening transparency and for `--fit contain` borders: a name (white, black), `#rrggbb`, `r,g,b`, or `transparent` (contain borders stay transparent where the format has alpha)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l colour -d 'Colour profile handling: srgb converts through the input\'s embedded profile to sRGB; p3 converts to Display P3 and embeds its profile; keep leaves the numbers and embeds the input\'s profile in the output' -r -f -a "srgb\t''
keep\t''
p3\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l export-profile -d 'Convert colours to this RGB ICC profile, and embed it, instead of sRGB (JPEG, PNG, WebP, AVIF and TIFF; other outputs get sRGB and say so)' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l min-size -d 'Skip images whose shorter side is below N pixels (checked from the header, before decoding)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l max-aspect -d 'Skip images whose longer side is more than R times their shorter (e.g. 3)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l max-pixels -d 'Refuse images with more pixels than this (checked from the header, before decoding)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l max-input-size -d 'Refuse inputs larger than this (e.g. 500M): files, and downloads, which stop as their body passes it' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l reencode -d 'When to encode afresh: always; if-needed (keep the input\'s bytes when the output would be the same size and format with nothing to rotate, convert or blur); never (keep the input\'s bytes once they decode; options that change pixels are refused)' -r -f -a "always\t''
if-needed\t''
never\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l bbox-col -d 'The manifest column holding boxes to blur strongly before resizing (faces, plates): a list of [x0, y0, x1, y1], each a fraction of the width or height, as img2dataset\'s bbox_col. A malformed box fails its row' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s j -l jobs -d 'CPU workers (default: number of cores; at most 8 per core)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l backend -d 'Where the CPU stage runs: threads of one rayon pool, or isolated worker processes' -r -f -a "rayon\t''
process\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l worker-memory -d 'With `--backend process`: cap each worker\'s address space (MB), so one huge image kills only its worker' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l io-threads -d 'Download threads (downloads wait on the network, so many threads overlap them; each holds a socket and a temp file, not the body)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l per-host -d 'Fix the connections to one host at once (default: learnt per host, from 8 up to --io-threads, backing off when the server shows load)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l retries -d 'Retries for connection errors, timeouts, HTTP 408/429/5xx and truncated bodies' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l connect-timeout -d 'Time allowed to connect (e.g. 10s, 500ms)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l timeout -d 'A download that receives no bytes for this long is stalled' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l max-time -d 'Time allowed for one item, all attempts included' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l min-speed -d 'A download averaging less than this many bytes per second over a --timeout window is stalled (0 = off)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l cacert -d 'Also trust the certificates in this PEM file (e.g. a private CA\'s)' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l user-agent -d 'The User-Agent header (default: pixmill/VERSION)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l disallowed-header-directives -d 'X-Robots-Tag directives that opt an image out (comma-separated; empty to honour none)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s H -l header -d 'Send this header with every request, as `Name: value` (repeatable). Authorization and Cookie are not sent on after a redirect to another host' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l referer -d 'Send this Referer header with every request' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l load-cookies -d 'Send the cookies of this Netscape cookie file (as curl, wget and aria2c read) to the hosts they belong to' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l netrc-file -d 'Send logins from this netrc file as Basic auth' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l limit-rate -d 'Cap the whole run\'s download rate, in bytes per second (e.g. 500K, 2M)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l proto-redir -d 'Protocols a redirect may lead to: `https` refuses a redirect from https to http (default: http,https, and such a downgrade is noted in the record)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l max-size -d 'Stop downloads as their body passes this size (e.g. 50M; `convert` stops them at --max-input-size unless this is lower)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s 0 -l null -d 'Entries on stdin and in plain manifests are NUL-separated (as `find -print0` writes)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s L -l follow -d 'Follow symbolic links to folders while walking (links to files are always followed)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l hidden -d 'Also take hidden files and folders (names starting with `.`) while walking'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l retry-failed -d 'With webdataset or parquet output: a rerun also retries the rows that failed for good (404, not an image), not only those that failed for a reason worth retrying (timeouts, resets, 5xx, 429)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l append -d 'With webdataset or parquet output: add this list to the dataset in the folder, in data files numbered after the ones there; rerunning the same append resumes it and adds nothing twice'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l fsync -d 'Make each output (and its folder entry) durable on disk before its record says ok'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l json -d 'Print one JSON record per item on stdout instead of output paths'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l print0 -d 'End each output path (or --json record) with NUL instead of a newline, for `xargs -0`'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s q -l quiet -d 'No progress bar and no summary (errors are still printed)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l dry-run -d 'List what would be done without reading, downloading or writing anything'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l enlarge -d 'Allow images smaller than the box to be enlarged'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l lossless -d 'Lossless WebP (an error with a --format that has no lossless mode)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l progressive -d 'Write progressive JPEG'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l no-auto-orient -d 'Keep pixels as stored instead of applying the EXIF orientation'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l accept-truncated -d 'Convert JPEGs that end early (e.g. an interrupted download) instead of failing them; the missing part comes out grey and the record says so'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l keep-metadata -d 'Copy EXIF (orientation reset, dimensions updated), XMP, the colour profile and pixel density into JPEG, PNG, WebP and TIFF outputs (default: stripped)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l no-keep-alive -d 'Open a fresh connection for every request instead of reusing one per host (by default an idle connection waits about 2 s for its host\'s next request)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s k -l insecure -d 'Do not check TLS certificates at all (for testing only: anyone on the path can then read and change the downloads)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l netrc -d 'Send logins from ~/.netrc as Basic auth (a login in the URL wins)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l respect-robots-txt -d 'Skip URLs that their host\'s robots.txt disallows (fetched once per host; a 4xx robots.txt allows all, a 5xx or unreachable one disallows all)'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l deny-private -d 'Also refuse to connect to loopback, private (RFC 1918), CGNAT, unique local (fc00::/7) and unspecified addresses'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -l allow-link-local -d 'Allow connections to link-local addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254: where clouds serve instance credentials), refused by default'
complete -c pixmill -n "__fish_pixmill_using_subcommand convert" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -s m -l manifest -d 'Read entries from a manifest file (`-` = stdin); may be repeated' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l manifest-format -d 'Manifest format; by default parquet by content, else by extension (.csv, .tsv, .jsonl, .parquet, else lines)' -r -f -a "lines\t''
csv\t''
tsv\t''
jsonl\t''
parquet\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l include -d 'Only take files whose path (relative to the folder walked) matches this glob; may be repeated' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l exclude -d 'Skip files and folders whose relative path matches this glob; may be repeated' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l iinclude -d 'As --include, ignoring case (`--iinclude \'*.jpg\'` takes IMG_0001.JPG)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l iexclude -d 'As --exclude, ignoring case' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l max-depth -d 'Descend at most this many levels below each folder given' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l shard -d 'Process only the entries of shard I of N (by a stable hash of each input), e.g. `--shard 0/4`; `auto` takes I and N from a Slurm array task or a Kubernetes indexed job (see docs/clusters.md)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l url-col -d 'The CSV/TSV/JSON Lines/parquet column holding the URL or path (default: url, path, input or file)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l caption-col -d 'The column holding each image\'s caption (default: caption, when present)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l hash-col -d 'A column holding a digest downloads must have, and its algorithm (md5, sha1, sha256, sha512); repeatable. Columns named md5, sha1, sha256 and sha512 are checked without it' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l max-manifest-line -d 'Longest manifest line, CSV/TSV row or parquet row\'s text (e.g. 4M); a longer one fails alone, with its line number, and is never held in memory' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -s o -l output -d 'Output folder (created if missing). Nothing is written outside it' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l on-exists -d 'When an output already exists: update (redo it unless it is up to date: same input, same settings, intact), skip (keep whatever exists), overwrite (always redo), fail' -r -f -a "update\t''
skip\t''
overwrite\t''
fail\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l output-format -d 'How outputs are stored: loose files, WebDataset tar shards, or parquet shards (image bytes in a column)' -r -f -a "files\t''
webdataset\t''
parquet\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l samples-per-file -d 'With webdataset or parquet output: at most this many input rows per data file' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l hash -d 'Digest each item\'s input bytes (as downloaded or read) into its record and the dataset metadata' -r -f -a "sha256\t''
md5\t''"
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l report -d 'Write one JSON record per item to FILE (JSON Lines)' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l io-threads -d 'Download threads (downloads wait on the network, so many threads overlap them; each holds a socket and a temp file, not the body)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l per-host -d 'Fix the connections to one host at once (default: learnt per host, from 8 up to --io-threads, backing off when the server shows load)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l retries -d 'Retries for connection errors, timeouts, HTTP 408/429/5xx and truncated bodies' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l connect-timeout -d 'Time allowed to connect (e.g. 10s, 500ms)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l timeout -d 'A download that receives no bytes for this long is stalled' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l max-time -d 'Time allowed for one item, all attempts included' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l min-speed -d 'A download averaging less than this many bytes per second over a --timeout window is stalled (0 = off)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l cacert -d 'Also trust the certificates in this PEM file (e.g. a private CA\'s)' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l user-agent -d 'The User-Agent header (default: pixmill/VERSION)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l disallowed-header-directives -d 'X-Robots-Tag directives that opt an image out (comma-separated; empty to honour none)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -s H -l header -d 'Send this header with every request, as `Name: value` (repeatable). Authorization and Cookie are not sent on after a redirect to another host' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l referer -d 'Send this Referer header with every request' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l load-cookies -d 'Send the cookies of this Netscape cookie file (as curl, wget and aria2c read) to the hosts they belong to' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l netrc-file -d 'Send logins from this netrc file as Basic auth' -r -F
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l limit-rate -d 'Cap the whole run\'s download rate, in bytes per second (e.g. 500K, 2M)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l proto-redir -d 'Protocols a redirect may lead to: `https` refuses a redirect from https to http (default: http,https, and such a downgrade is noted in the record)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l max-size -d 'Stop downloads as their body passes this size (e.g. 50M; `convert` stops them at --max-input-size unless this is lower)' -r
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -s 0 -l null -d 'Entries on stdin and in plain manifests are NUL-separated (as `find -print0` writes)'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -s L -l follow -d 'Follow symbolic links to folders while walking (links to files are always followed)'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l hidden -d 'Also take hidden files and folders (names starting with `.`) while walking'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l retry-failed -d 'With webdataset or parquet output: a rerun also retries the rows that failed for good (404, not an image), not only those that failed for a reason worth retrying (timeouts, resets, 5xx, 429)'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l append -d 'With webdataset or parquet output: add this list to the dataset in the folder, in data files numbered after the ones there; rerunning the same append resumes it and adds nothing twice'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l fsync -d 'Make each output (and its folder entry) durable on disk before its record says ok'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l json -d 'Print one JSON record per item on stdout instead of output paths'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l print0 -d 'End each output path (or --json record) with NUL instead of a newline, for `xargs -0`'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -s q -l quiet -d 'No progress bar and no summary (errors are still printed)'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l dry-run -d 'List what would be done without reading, downloading or writing anything'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l no-keep-alive -d 'Open a fresh connection for every request instead of reusing one per host (by default an idle connection waits about 2 s for its host\'s next request)'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -s k -l insecure -d 'Do not check TLS certificates at all (for testing only: anyone on the path can then read and change the downloads)'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l netrc -d 'Send logins from ~/.netrc as Basic auth (a login in the URL wins)'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l respect-robots-txt -d 'Skip URLs that their host\'s robots.txt disallows (fetched once per host; a 4xx robots.txt allows all, a 5xx or unreachable one disallows all)'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l deny-private -d 'Also refuse to connect to loopback, private (RFC 1918), CGNAT, unique local (fc00::/7) and unspecified addresses'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -l allow-link-local -d 'Allow connections to link-local addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254: where clouds serve instance credentials), refused by default'
complete -c pixmill -n "__fish_pixmill_using_subcommand fetch" -s h -l help -d 'Print help'
complete -c pixmill -n "__fish_pixmill_using_subcommand formats" -l json -d 'One JSON object per format instead of a table'
complete -c pixmill -n "__fish_pixmill_using_subcommand formats" -s h -l help -d 'Print help'
complete -c pixmill -n "__fish_pixmill_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pixmill -n "__fish_pixmill_using_subcommand man" -s h -l help -d 'Print help'
complete -c pixmill -n "__fish_pixmill_using_subcommand help; and not __fish_seen_subcommand_from convert fetch formats completions man help" -f -a "convert" -d 'Convert images (files, folders, manifests, URLs) to other sizes and formats'
complete -c pixmill -n "__fish_pixmill_using_subcommand help; and not __fish_seen_subcommand_from convert fetch formats completions man help" -f -a "fetch" -d 'Download a list of URLs into a folder (any file type, bytes unchanged)'
complete -c pixmill -n "__fish_pixmill_using_subcommand help; and not __fish_seen_subcommand_from convert fetch formats completions man help" -f -a "formats" -d 'List the image formats this build reads and writes'
complete -c pixmill -n "__fish_pixmill_using_subcommand help; and not __fish_seen_subcommand_from convert fetch formats completions man help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell)'
complete -c pixmill -n "__fish_pixmill_using_subcommand help; and not __fish_seen_subcommand_from convert fetch formats completions man help" -f -a "man" -d 'Print the man page (roff) on stdout, e.g. `pixmill man | man -l -`'
complete -c pixmill -n "__fish_pixmill_using_subcommand help; and not __fish_seen_subcommand_from convert fetch formats completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
