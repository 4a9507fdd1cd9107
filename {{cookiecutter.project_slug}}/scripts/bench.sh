#!/usr/bin/env bash
# Load-test a running service with wrk: GET /health, GET one task, POST a task, GET a page.
#
#   make bench                                  # against http://127.0.0.1:8000
#   BASE_URL=http://127.0.0.1:9000 DURATION=30s make bench
#
# Start the service first, ideally as production runs it (`uv run <slug> serve` with
# ENVIRONMENT=production, PostgreSQL and WEB_CONCURRENCY set). The script registers a
# throw-away user, so point it at a development or staging database, never production.
# Only use it against servers you run yourself.
set -euo pipefail

BASE_URL="${BASE_URL:-http://127.0.0.1:8000}"
BASE_URL="${BASE_URL%/}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-10}"
THREADS="${THREADS:-2}"

if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: wrk is not installed (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk)." >&2
    exit 1
fi
if ! curl -fsS "${BASE_URL}/health" >/dev/null; then
    echo "bench: nothing answers ${BASE_URL}/health; start the service first (or set BASE_URL)." >&2
    exit 1
fi

json_field() {  # json_field FIELD < JSON
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

email="bench-$(date +%s)-${RANDOM}@example.com"
password="bench-password-$(date +%s)"
curl -fsS -X POST "${BASE_URL}/api/v1/auth/register" -H 'Content-Type: application/json' \
    -d "{\"email\": \"${email}\", \"password\": \"${password}\"}" >/dev/null
token="$(curl -fsS -X POST "${BASE_URL}/api/v1/auth/token" \
    --data-urlencode "username=${email}" --data-urlencode "password=${password}" \
    | json_field access_token)"
task_body='{"title": "Benchmark task", "description": "Written by wrk.", "priority": "high"}'
task_id="$(curl -fsS -X POST "${BASE_URL}/api/v1/tasks" -H "Authorization: Bearer ${token}" \
    -H 'Content-Type: application/json' -d "${task_body}" | json_field id)"

lua="$(mktemp)"
trap 'rm -f "${lua}"' EXIT
cat >"${lua}" <<'LUA'
-- Method, bearer token and JSON body from the environment.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local failed = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("%10.0f req/s   p50 %7.2f ms   p99 %7.2f ms   %d errors\n",
    summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    failed))
end
LUA

echo "wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} against ${BASE_URL} (task ${task_id})"
load() {  # load LABEL METHOD PATH TOKEN BODY
    printf '%-30s' "$1"
    BENCH_METHOD="$2" BENCH_TOKEN="$4" BENCH_BODY="$5" \
        wrk -t"${THREADS}" -c"${CONNECTIONS}" -d"${DURATION}" --latency -s "${lua}" \
        "${BASE_URL}$3" | tail -n 1
}
load "GET /health" GET "/health" "" ""
load "GET /api/v1/tasks/{id}" GET "/api/v1/tasks/${task_id}" "${token}" ""
load "POST /api/v1/tasks" POST "/api/v1/tasks" "${token}" "${task_body}"
load "GET /api/v1/tasks?limit=20" GET "/api/v1/tasks?limit=20" "${token}" ""
