-- wrk script: POST one 50 KB face JPEG per request to the header-token upload route.
-- Arguments after `--`: <raw|multipart> <jpeg path> <variant id> <token> [<token> ...]
-- raw: the JPEG is the body (Content-Type: image/jpeg), the fields in X-Snapshot-* headers, as the
-- tester page sends it; multipart: a form with the image and the fields.
-- Every request carries a new sequence number and the tokens rotate, so each one is a real,
-- new snapshot (a repeated sequence would take the cheaper "already accepted" path).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  local file = assert(io.open(args[2], "rb"))
  jpeg = file:read("*all")
  file:close()
  variant = args[3]
  tokens = {}
  for index = 4, #args do
    table.insert(tokens, args[index])
  end
  boundary = "----mimikload"
  offset = (thread_id or 0) * 10000000
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local sequence = offset + counter
  local headers = {}
  headers["X-Tester-Token"] = token
  if mode == "raw" then
    headers["Content-Type"] = "image/jpeg"
    headers["X-Snapshot-Variant"] = variant
    headers["X-Snapshot-Sequence"] = tostring(sequence)
    headers["X-Snapshot-Media-Time-Ms"] = tostring(counter % 600000)
    return wrk.format("POST", "/api/t/frames/", headers, jpeg)
  end
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
  headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
  return wrk.format("POST", "/api/t/frames/", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("WRK_ERRORS status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
