-- wrk script of the serving benchmark (benchmarks/load_client.py runs it):
--
--   wrk -t1 -c64 -d10s -s benchmarks/wrk_invocations.lua http://HOST:PORT/invocations -- BODIES
--
-- POSTs the JSON bodies of the file BODIES (one per line) in turn. A response is an error
-- unless its status is 200 and its body starts with "[". done() prints one JSON line:
-- requests, duration, errors by kind, and latency p50/p90/p99 in ms.

local bodies = {}
local next_body = 0

-- Globals, not locals: done() runs in wrk's main Lua state and reads them with thread:get().
bad_status = 0
bad_body = 0

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  assert(path, "usage: wrk ... -s wrk_invocations.lua URL -- BODIES_FILE")
  for line in io.lines(path) do
    if line ~= "" then
      bodies[#bodies + 1] = line
    end
  end
  assert(#bodies > 0, "no request bodies in " .. path)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif body == nil or string.sub(body, 1, 1) ~= "[" then
    bad_body = bad_body + 1
  end
end

function done(summary, latency, requests)
  local status, body = 0, 0
  for _, thread in ipairs(threads) do
    status = status + thread:get("bad_status")
    body = body + thread:get("bad_body")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.6f, "errors": {"status": %d, "connect": %d, '
      .. '"read": %d, "write": %d, "timeout": %d, "bad_body": %d}, '
      .. '"p50": %.4f, "p90": %.4f, "p99": %.4f}\n',
    summary.requests, summary.duration / 1e6, status, e.connect, e.read, e.write, e.timeout,
    body, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000))
end
