-- wrk script: POST /v1/topics/{topic}/messages with a unique id per request (keep-alive).
-- `thread_id` is a global: `setup` gives each thread its own through thread:set.
local counter = 0
local threads = {}
-- Several wrk processes at once (bench/cluster.sh) tell their ids apart by DQ_WRK_TAG.
local tag = os.getenv("DQ_WRK_TAG") or "w"

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tonumber(thread_id) or 0
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local body = string.format(
    '{"id":"%s%d-%d","body":{"order_id":%d,"amount":99.5,"merchant":"m-42"},"delay":60}',
    tag, thread_id, counter, counter)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("non-2xx responses: %d, socket errors: %d\n",
    non2xx, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
