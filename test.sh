#!/usr/bin/env bash
# Runs every test of the solution. Installs what the tests need when it is missing (PostgreSQL and
# Chromium from Debian packages, Node.js for the npm packages of the web client and the JavaScript package); the
# tests start their own throwaway PostgreSQL server. Prints "N passed, N failed" last.
set -euo pipefail
cd "$(dirname "$0")"

configuration="${CONFIGURATION:-Release}"
log_dir="${TEST_LOG_DIR:-artifacts/test-logs}"
mkdir -p "$log_dir"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "Installing PostgreSQL (Debian package) for the store and cluster tests..."
  apt_install postgresql
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Chromium (Debian package) for the browser tests..."
  apt_install chromium
fi
if ! command -v npm >/dev/null; then
  echo "Installing Node.js and npm (Debian packages) for the web client..."
  apt_install nodejs npm
fi

# Warnings are errors through Directory.Build.props.
dotnet build Orleans.sln -c "$configuration" -nologo -v quiet

set +e
dotnet test --solution Orleans.sln -c "$configuration" --no-build --results-directory "$log_dir" 2>&1 | tee "$log_dir/dotnet-test.log"
status=${PIPESTATUS[0]}
set -e

# Sum the per-assembly summaries of Microsoft.Testing.Platform into one plain line.
passed=$(grep -E '^\s*succeeded: [0-9]+' "$log_dir/dotnet-test.log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -E '^\s*failed: [0-9]+' "$log_dir/dotnet-test.log" | awk '{s+=$2} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi

# The front-end protocols with their official clients (the AI SDK's `ai`, AG-UI's `@ag-ui/client`, pinned in
# tests/js/package-lock.json) against the service just built, and the example page in Chromium (playwright-core,
# on Debian's browser). `ai` declares Node >= 22 but runs on Node 20: npm warns (EBADENGINE) and goes on
# (docs/frontends.md).
for dir in tests/js examples/react-chat clients/js; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || { echo "npm ci in $dir: FAILED"; status=1; failed=$((failed + 1)); }
  fi
done
# The example page (useChat with resume) that the browser tests drive, built with Vite.
(cd examples/react-chat && npm run build --silent) > "$log_dir/react-chat-build.log" 2>&1 || { cat "$log_dir/react-chat-build.log"; status=1; failed=$((failed + 1)); }
# Runs one folder's `node --test` files (tap) and adds their counts to the totals.
node_tests() {
  # The pattern is expanded in the folder, not here.
  local dir="$1" log="$log_dir/$2.log" pattern="$3" node_status node_passed node_failed
  set +e
  (cd "$dir" && CONFIGURATION="$configuration" node --test --test-concurrency=1 --test-reporter=tap $pattern) > "$log" 2>&1
  node_status=$?
  set -e
  grep -E '^(not )?ok |^# (pass|fail) ' "$log" || true
  node_passed=$(grep -E '^# pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  node_failed=$(grep -E '^# fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  if [ "$node_status" -ne 0 ] && [ "$node_failed" -eq 0 ]; then node_failed=1; fi
  if [ "$node_status" -ne 0 ]; then status=1; tail -n 80 "$log"; fi
  passed=$((passed + node_passed))
  failed=$((failed + node_failed))
}
node_tests tests/js js-test './*.test.mjs'

# The JavaScript package @agents/client (clients/js, docs/clients.md): its hand-written types checked by tsc, its
# reducer tested against the server's fold of the recorded histories and its client against the service just built.
# Then both client packages packed and installed into throwaway projects, as their users would (one test).
if ! (cd clients/js && npm run typecheck --silent) > "$log_dir/js-client-check.log" 2>&1; then
  echo "clients/js typecheck: FAILED"; cat "$log_dir/js-client-check.log"; status=1; failed=$((failed + 1))
fi
node_tests clients/js js-client-test 'test/*.test.mjs'
if CONFIGURATION="$configuration" clients/check-packages.sh > "$log_dir/packages.log" 2>&1; then
  passed=$((passed + 1)); tail -n 1 "$log_dir/packages.log"
else
  echo "packages (dotnet pack, npm pack, installed): FAILED"; tail -n 40 "$log_dir/packages.log"; status=1; failed=$((failed + 1))
fi

# The benchmark's quick mode, after the tests so it runs alone: it passes when every figure is produced and
# every check of what the clients received holds. Its timings are printed, never asserted (bench/README.md).
set +e
dotnet "bench/bin/$configuration/net10.0/Agents.Bench.dll" --quick --out "$log_dir/bench-quick.json" > "$log_dir/bench-quick.log" 2>&1
bench_status=$?
set -e
if [ "$bench_status" -eq 0 ]; then
  passed=$((passed + 1))
  echo "bench --quick: passed (figures in $log_dir/bench-quick.json)"
else
  failed=$((failed + 1))
  status=1
  echo "bench --quick: FAILED"
  tail -n 60 "$log_dir/bench-quick.log"
fi

# CI shows the end of this output: name what failed again here, above the totals.
if [ "$failed" -ne 0 ]; then
  echo "Failed:"
  grep -hE '^\s*failed [^:]' "$log_dir/dotnet-test.log" | sed -E 's/^\s*/  dotnet: /' || true
  for log in "$log_dir"/js-test.log "$log_dir"/js-client-test.log; do
    [ -f "$log" ] && grep -hE '^not ok ' "$log" | sed -E "s|^|  $(basename "$log" .log): |" || true
  done
fi
echo "$passed passed, $failed failed"
exit "$status"
