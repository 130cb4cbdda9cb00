-- wrk script of the AIS benchmarks (bench/harness/wrk.py writes its inputs and reads its output).
--
-- Configured through the environment, because wrk hands script arguments to `init` only and
-- every thread needs the same files:
--   BENCH_WRK_OUT        file the results are written to at the end (required)
--   BENCH_WRK_METHOD     HTTP method (default GET)
--   BENCH_WRK_BODIES     file with one request body per line, sent round-robin (optional)
--   BENCH_WRK_TOKENS     file with one bearer token per line, sent round-robin (optional)
--   BENCH_WRK_RUN        8 hex digits unique to this run: with it, every request carries a fresh
--                        Idempotency-Key (run, thread, counter), so no two requests of any
--                        run or thread collide and none is answered as a replay
-- Other headers come from wrk's -H options.
--
-- The output is line-oriented so that it needs no JSON library here:
--   duration_us N | requests N | bytes N | error <kind> N | status <code> N |
--   code <error code> N | latency_quantile <q> <microseconds>   (q from 0 to 1 in steps of 0.005,
--   and 0.999, 0.9999)

local method = os.getenv("BENCH_WRK_METHOD") or "GET"
local run = os.getenv("BENCH_WRK_RUN")

local function read_lines(path)
   local lines = {}
   if path == nil or path == "" then
      return lines
   end
   for line in io.lines(path) do
      if line ~= "" then
         lines[#lines + 1] = line
      end
   end
   return lines
end

local bodies = read_lines(os.getenv("BENCH_WRK_BODIES"))
local tokens = read_lines(os.getenv("BENCH_WRK_TOKENS"))
local dynamic = run ~= nil or #bodies > 1 or #tokens > 0

-- Globals, one set per thread (each wrk thread has its own Lua state); the main state reads
-- them with thread:get at the end, and setup() gives each thread its index.
statuses = {}
codes = {}
thread_index = 0
local counter = 0

local threads = {}
local next_thread = 0

function setup(thread)
   thread:set("thread_index", next_thread)
   next_thread = next_thread + 1
   threads[#threads + 1] = thread
end

function init(_)
   thread_index = tonumber(thread_index) or 0
   -- Threads start at different places in the lists, so they do not move in lockstep.
   counter = thread_index * 7919
end

if #bodies == 1 then
   wrk.body = bodies[1]
end
wrk.method = method

if dynamic then
   -- Defined only when requests differ: wrk pre-formats a static request otherwise, the cheapest.
   function request()
      counter = counter + 1
      -- wrk.format uses the table given instead of wrk.headers (the -H options): start from a copy.
      local headers = {}
      for name, value in pairs(wrk.headers) do
         headers[name] = value
      end
      if #tokens > 0 then
         headers["Authorization"] = "Bearer " .. tokens[counter % #tokens + 1]
      end
      if run ~= nil then
         headers["Idempotency-Key"] = string.format("%s-%04x-4%03x-8%03x-%012x", run, thread_index % 65536,
            math.floor(counter / 2^40) % 4096, thread_index % 4096, counter % 2^40)
      end
      local body = nil
      if #bodies > 0 then
         body = bodies[counter % #bodies + 1]
      end
      return wrk.format(method, nil, headers, body)
   end
end

function response(status, _, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status >= 300 then
      -- The contract's error body: {"code": "...", ...}
      local code = string.match(body or "", '"code"%s*:%s*"([%w_]+)"') or "unparsed"
      codes[code] = (codes[code] or 0) + 1
   end
end

function done(summary, latency, _)
   local out = assert(io.open(os.getenv("BENCH_WRK_OUT"), "w"))
   out:write(string.format("duration_us %d\nrequests %d\nbytes %d\n", summary.duration, summary.requests,
      summary.bytes))
   for kind, count in pairs(summary.errors) do
      out:write(string.format("error %s %d\n", kind, count))
   end
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         out:write(string.format("status %d %d\n", status, count))
      end
      for code, count in pairs(thread:get("codes")) do
         out:write(string.format("code %s %d\n", code, count))
      end
   end
   -- Quantiles rather than the histogram: wrk's per-value accessor walks the whole histogram on
   -- every call (quadratic), a percentile walks it once. These are wrk's own latencies, with its
   -- correction for coordinated omission applied, as its summary prints them.
   out:write(string.format("latency_quantile 0 %d\n", latency.min))
   for i = 1, 199 do
      out:write(string.format("latency_quantile %g %d\n", i / 200, latency:percentile(i / 2)))
   end
   for _, p in ipairs({ 99.9, 99.99 }) do
      out:write(string.format("latency_quantile %g %d\n", p / 100, latency:percentile(p)))
   end
   out:write(string.format("latency_quantile 1 %d\n", latency.max))
   out:close()
end
