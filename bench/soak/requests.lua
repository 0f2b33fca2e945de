-- requests.lua - a wrk script that cycles through raw HTTP requests read from a
-- file (SOAK_REQS: entries "<length>\n<bytes>") and counts answers by status
-- class. soak.py writes one file of good requests and one of bad ones and runs
-- one wrk on each; done() prints "STATUS 2xx=N 3xx=N 4xx=N 5xx=N" for it.
local reqs = {}
local idx = 0
counts = {0, 0, 0, 0, 0} -- global: done() reads it with thread:get
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local f = assert(io.open(os.getenv("SOAK_REQS"), "rb"))
   local data = f:read("*a")
   f:close()
   local pos = 1
   while pos <= #data do
      local nl = data:find("\n", pos, true)
      local n = tonumber(data:sub(pos, nl - 1))
      reqs[#reqs + 1] = data:sub(nl + 1, nl + n)
      pos = nl + n + 1
   end
   -- Threads start at different places so the mix is even from the first second.
   math.randomseed(os.time() + #threads)
   idx = math.random(#reqs)
end

function request()
   idx = idx % #reqs + 1
   return reqs[idx]
end

function response(status, headers, body)
   local c = math.floor(status / 100)
   if c >= 1 and c <= 5 then
      counts[c] = counts[c] + 1
   end
end

function done(summary, latency, requests)
   local total = {0, 0, 0, 0, 0}
   for _, t in ipairs(threads) do
      local c = t:get("counts")
      for i = 1, 5 do
         total[i] = total[i] + c[i]
      end
   end
   io.write(string.format("STATUS 2xx=%d 3xx=%d 4xx=%d 5xx=%d\n", total[2], total[3], total[4],
                          total[5]))
end
