-- wrk script: POST one 50 KB face JPEG per request to the header-token upload route.
-- Arguments after `--`: <jpeg path> <variant id> <token> [<token> ...]
-- Every request carries a new sequence number and the tokens rotate, so each one is a real,
-- new snapshot (a repeated sequence would take the cheaper "already accepted" path).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  jpeg = file:read("*all")
  file:close()
  variant = args[2]
  tokens = {}
  for index = 3, #args do
    table.insert(tokens, args[index])
  end
  boundary = "----mimikload"
  offset = (thread_id or 0) * 10000000
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local sequence = offset + counter
  local body = "--" .. boundary .. "\r\n"
    .. 'Content-Disposition: form-data; name="variant"\r\n\r\n' .. variant .. "\r\n"
    .. "--" .. boundary .. "\r\n"
    .. 'Content-Disposition: form-data; name="sequence"\r\n\r\n' .. sequence .. "\r\n"
    .. "--" .. boundary .. "\r\n"
    .. 'Content-Disposition: form-data; name="media_time_ms"\r\n\r\n' .. (counter % 600000) .. "\r\n"
    .. "--" .. boundary .. "\r\n"
    .. 'Content-Disposition: form-data; name="image"; filename="s.jpg"\r\n'
    .. "Content-Type: image/jpeg\r\n\r\n" .. jpeg .. "\r\n"
    .. "--" .. boundary .. "--\r\n"
  local headers = {}
  headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
  headers["X-Tester-Token"] = token
  return wrk.format("POST", "/api/t/frames/", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("WRK_ERRORS status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
