-- wrk script for scripts/fleet_load.sh: `GET /me` with a DPoP-bound token, each request with its
-- own proof taken from a file, so no proof is ever sent twice (RFC 9449 §11.1 single use).
--
--   wrk ... -s scripts/lib/dpop_proofs.lua URL -- PROOF_FILE TOKEN_FILE THREADS
--
-- wrk thread k of THREADS takes lines k, k + THREADS, k + 2 THREADS, ... of PROOF_FILE. A thread
-- that runs out of proofs stops rather than reuse one; `done` then prints
-- "proofs exhausted: N" (N threads), and the run does not count. wrk calls the first thread's
-- `request` once before the run, to check the request it makes: that proof is never sent.

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

local proofs = {}
local next_proof = 1
local authorization
exhausted = 0

function init(args)
  local file, count = args[1], tonumber(args[3])
  local token_file = assert(io.open(args[2]))
  local token = token_file:read("*l")
  token_file:close()
  local line = 0
  for proof in io.lines(file) do
    if line % count == index then
      proofs[#proofs + 1] = proof
    end
    line = line + 1
  end
  authorization = "DPoP " .. token
end

function request()
  local proof = proofs[next_proof]
  if proof == nil then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/health", {})
  end
  proofs[next_proof] = nil
  next_proof = next_proof + 1
  -- wrk.format adds Host; the table replaces wrk.headers, so it carries every other header.
  return wrk.format("GET", "/me", { ["Authorization"] = authorization, ["DPoP"] = proof })
end

function done(summary, latency, requests)
  local stopped = 0
  for _, thread in ipairs(threads) do
    stopped = stopped + (thread:get("exhausted") or 0)
  end
  io.write(string.format("proofs exhausted: %d\n", stopped))
end
