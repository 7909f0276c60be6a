-- wrk script: POSTs the GraphQL body in BENCH_BODY, with BENCH_TOKEN as bearer
-- token when set. Every response must be 200 (wrk counts the others).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
