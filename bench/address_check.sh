#!/usr/bin/env bash
# The cost of the address check (issue 21, point 6) per connection: the
# check runs once per resolved answer (every address classified, refused
# ones dropped) and once per literal-IP URL or redirect hop. This runs the
# fetch crate's measuring test (ignored by plain `cargo test`), which times
# the check on a typical two-address answer, and prints ns per check.
#
# usage: address_check.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need cargo
cd "$REPO_ROOT"
cargo test --release --locked -p pixmill-fetch --lib -- --ignored --nocapture \
  cost_of_the_check_per_connection 2>&1 | grep '^address check:'
