-- wrk script of the retry-storm point (benchmarks/storm.py runs it):
--
--   wrk -t1 -c512 -d10s -s benchmarks/wrk_storm.lua http://HOST:PORT/invocations -- BODIES
--
-- Every connection sends its next request as soon as it has an answer, whatever the answer:
-- a naive client retrying a 503 at once, 512 of them. POSTs the JSON bodies of BODIES in turn,
-- each with its own X-Request-Id (the server echoes it) so an answer is matched with the time
-- its request went out: the latency of the 200 answers alone (wrk's own histogram mixes in the
-- 503s). done() prints one JSON line: answers by status, 503s with Retry-After, the 200s'
-- p50/p99 in ms.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } storm_timespec;
  int clock_gettime(int clock, storm_timespec *out);
]]
local CLOCK_MONOTONIC = 1
local now_buffer = ffi.new("storm_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_buffer)
  return tonumber(now_buffer.tv_sec) + tonumber(now_buffer.tv_nsec) * 1e-9
end

local bodies = {}
local next_body = 0
local sequence = 0
local sent_at = {}
local prefix = ""

-- Globals, not locals: done() runs in wrk's main Lua state and reads them with thread:get().
ok = 0
shed = 0
shed_retry_after = 0
other = 0
unmatched = 0
ok_latencies = {}

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  assert(path, "usage: wrk ... -s wrk_storm.lua URL -- BODIES_FILE")
  for line in io.lines(path) do
    if line ~= "" then
      bodies[#bodies + 1] = line
    end
  end
  assert(#bodies > 0, "no request bodies in " .. path)
  prefix = "storm-" .. tostring(id) .. "-"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
end

function request()
  next_body = next_body % #bodies + 1
  sequence = sequence + 1
  local rid = prefix .. sequence
  sent_at[rid] = now()
  return wrk.format(nil, nil, { ["X-Request-Id"] = rid }, bodies[next_body])
end

function response(status, headers, body)
  local rid = headers["x-request-id"] or headers["X-Request-Id"]
  local started = rid and sent_at[rid]
  if rid then
    sent_at[rid] = nil
  end
  if status == 200 then
    ok = ok + 1
    if started then
      ok_latencies[#ok_latencies + 1] = now() - started
    else
      unmatched = unmatched + 1
    end
  elseif status == 503 then
    shed = shed + 1
    if headers["retry-after"] or headers["Retry-After"] then
      shed_retry_after = shed_retry_after + 1
    end
  else
    other = other + 1
  end
end

local function percentile(sorted, q)
  if #sorted == 0 then
    return -1
  end
  local index = math.max(1, math.min(#sorted, math.ceil(q / 100 * #sorted)))
  return sorted[index] * 1000
end

function done(summary, latency, requests)
  local totals = { ok = 0, shed = 0, shed_retry_after = 0, other = 0, unmatched = 0 }
  local latencies = {}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
    for _, value in ipairs(thread:get("ok_latencies")) do
      latencies[#latencies + 1] = value
    end
  end
  table.sort(latencies)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.6f, "ok": %d, "shed": %d, "shed_retry_after": %d, '
      .. '"other": %d, "unmatched": %d, "socket_errors": %d, "timeouts": %d, '
      .. '"ok_p50": %.4f, "ok_p99": %.4f}\n',
    summary.requests, summary.duration / 1e6, totals.ok, totals.shed, totals.shed_retry_after,
    totals.other, totals.unmatched, e.connect + e.read + e.write, e.timeout,
    percentile(latencies, 50), percentile(latencies, 99)))
end
