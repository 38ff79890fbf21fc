-- wrk script: authenticated non-blocking A2A message/send, a new messageId on every request.
-- CONVERSATION=new (default): every request starts a new conversation (no contextId), a
-- shopper's first message; CONVERSATION=existing: each connection keeps one conversation.
-- Only answers carrying a JSON-RPC "result" count as successes; the rest are reported.
--   TOKEN=<jwt> CONVERSATION=new wrk -t2 -c64 -d10s -s bench/wrk/message_send.lua http://127.0.0.1:10999/
local token = os.getenv("TOKEN") or ""
local mode = os.getenv("CONVERSATION") or "new"
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
  -- Ids unique across runs: a repeated messageId would be a resend (or refused), not new work.
  math.randomseed(os.time() * 1000 + thread_id)
  run = math.random(1, 1e9)
  results, errors = 0, 0
  context = string.format("wrk-%d-%d", run, thread_id)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["X-A2A-Extensions"] = "https://ucp.dev/specification/reference?v=2026-01-11"
  wrk.headers["UCP-Agent"] = 'profile="' .. (os.getenv("PROFILE") or "http://127.0.0.1:10999/.well-known/ucp") .. '"'
end

function request()
  counter = counter + 1
  local context_part = ""
  if mode == "existing" then
    context_part = string.format(',"contextId":"%s"', context)
  end
  local body = string.format(
    '{"jsonrpc":"2.0","id":%d,"method":"message/send","params":{"message":{"kind":"message","role":"user","messageId":"wrk-%d-%d-%d"%s,"parts":[{"kind":"data","data":{"action":"add_to_checkout","product_id":"BISC-001","quantity":1}}]},"configuration":{"blocking":false}}}',
    counter, run, thread_id, counter, context_part)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 200 and string.find(body, '"result"', 1, true) then
    results = results + 1
  else
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("results")
    bad = bad + thread:get("errors")
  end
  io.write(string.format("results %d, not results %d, results/s %.0f\n", ok, bad, ok / (summary.duration / 1e6)))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("p%s %.1f ms\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("max %.1f ms\n", latency.max / 1000))
end
