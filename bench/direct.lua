-- wrk script for the "direct" target: spread wrk's threads over both nginx
-- backends (thread 1 -> 127.0.0.1:18081, thread 2 -> 127.0.0.1:18082, ...),
-- so "direct" uses the same two nginx workers as the proxies do.
-- Only setup() is defined: wrk keeps its static, pre-built request, so the
-- script adds no per-request cost.
local ports = { "18081", "18082" }
local n = 0

function setup(thread)
   local port = ports[(n % #ports) + 1]
   n = n + 1
   thread.addr = wrk.lookup("127.0.0.1", port)[1]
end
