-- wrk script for the "direct" target of bench/ns.sh: spread wrk's threads
-- over the web servers listed in NS_DIRECT ("10.77.1.11:8080 10.77.1.12:8080":
-- thread 1 -> the first, thread 2 -> the second, ...), so "direct" uses the
-- same two nginx workers as the load balancers do. Only setup() is defined:
-- wrk keeps its static, pre-built request, so the script adds no per-request
-- cost.
local targets = {}
for hostport in string.gmatch(os.getenv("NS_DIRECT") or "", "%S+") do
   local host, port = string.match(hostport, "^(.+):(%d+)$")
   targets[#targets + 1] = { host, port }
end
local n = 0

function setup(thread)
   if #targets == 0 then
      error("ns_direct.lua: set NS_DIRECT to 'host:port host:port'")
   end
   local t = targets[(n % #targets) + 1]
   n = n + 1
   thread.addr = wrk.lookup(t[1], t[2])[1]
end
