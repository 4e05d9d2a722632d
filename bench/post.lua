-- wrk script: POST the JSON body in $BENCH_BODY_FILE with the bench's auth headers.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local realm = os.getenv("BENCH_REALM")
if realm and realm ~= "" then wrk.headers["X-Auth-Realm"] = realm end
