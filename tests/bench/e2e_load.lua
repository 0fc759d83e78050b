-- wrk script for tests/bench/e2e.sh: realistic, SIGNED Twilio WhatsApp webhooks.
--
--   wrk -t2 -c64 -d20s --latency -s e2e_load.lua URL -- NONCE THREADS CUSTOMERS TOKEN SIGNED_URL
--
-- The load is the one of ../shared/peer-node/load.lua (the NestJS bot's benchmark), so the
-- two bots see the same requests: 1000 customers split between wrk threads, each walking
-- hi -> menu -> 2 coke -> confirm -> what? one message per lap, every request with a unique
-- 34-char MessageSid (no dedup hits) and the same 15 form fields Twilio sends.
--
-- TOKEN and SIGNED_URL (optional): when given, every request carries a valid
-- X-Twilio-Signature, base64(HMAC-SHA1(TOKEN, SIGNED_URL .. sorted name..value pairs)),
-- computed here in LuaJIT (wrk's Lua) so the server does its real verification work.
-- Without them the header is a constant (the peer does not check it).

local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local lshift, rshift, rol, tobit = bit.lshift, bit.rshift, bit.rol, bit.tobit
local byte, char, concat = string.byte, string.char, table.concat

local BODIES = { "hi", "menu", "2 coke", "confirm", "what?" }
local BUSINESS = "whatsapp:+14155238886"
local ACCOUNT = "AC00000000000000000000000000000000"

-- SHA-1 (FIPS 180-4) over a Lua string; returns the 20-byte digest.
local W = {}
local function sha1(msg)
   local h0, h1, h2, h3, h4 = tobit(0x67452301), tobit(0xEFCDAB89), tobit(0x98BADCFE),
      tobit(0x10325476), tobit(0xC3D2E1F0)
   local ml = #msg
   local pad = (55 - ml) % 64
   local bits = ml * 8
   msg = msg .. "\128" .. string.rep("\0", pad) .. "\0\0\0\0" ..
      char(band(rshift(bits, 24), 255), band(rshift(bits, 16), 255),
           band(rshift(bits, 8), 255), band(bits, 255))
   for chunk = 1, #msg, 64 do
      for i = 0, 15 do
         local a, b, c, d = byte(msg, chunk + i * 4, chunk + i * 4 + 3)
         W[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
      end
      for i = 16, 79 do
         W[i] = rol(bxor(W[i - 3], W[i - 8], W[i - 14], W[i - 16]), 1)
      end
      local a, b, c, d, e = h0, h1, h2, h3, h4
      for i = 0, 79 do
         local f, k
         if i < 20 then
            f = bor(band(b, c), band(bnot(b), d)); k = 0x5A827999
         elseif i < 40 then
            f = bxor(b, c, d); k = 0x6ED9EBA1
         elseif i < 60 then
            f = bor(band(b, c), band(b, d), band(c, d)); k = -0x70E44324 -- 0x8F1BBCDC
         else
            f = bxor(b, c, d); k = -0x359D3E2A -- 0xCA62C1D6
         end
         local t = tobit(rol(a, 5) + f + e + k + W[i])
         e = d; d = c; c = rol(b, 30); b = a; a = t
      end
      h0 = tobit(h0 + a); h1 = tobit(h1 + b); h2 = tobit(h2 + c)
      h3 = tobit(h3 + d); h4 = tobit(h4 + e)
   end
   local out = {}
   for _, h in ipairs({ h0, h1, h2, h3, h4 }) do
      out[#out + 1] = char(band(rshift(h, 24), 255), band(rshift(h, 16), 255),
                           band(rshift(h, 8), 255), band(h, 255))
   end
   return concat(out)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
   local out = {}
   for i = 1, #s, 3 do
      local a, b, c = byte(s, i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local c1, c2 = rshift(n, 18) + 1, band(rshift(n, 12), 63) + 1
      local c3, c4 = band(rshift(n, 6), 63) + 1, band(n, 63) + 1
      out[#out + 1] = B64:sub(c1, c1) .. B64:sub(c2, c2) ..
         (b and B64:sub(c3, c3) or "=") .. (c and B64:sub(c4, c4) or "=")
   end
   return concat(out)
end

local ipad, opad -- the HMAC key blocks, from TOKEN
local function hmac_sha1(data)
   return sha1(opad .. sha1(ipad .. data))
end

local function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c)
      if c == " " then return "+" end
      return string.format("%%%02X", string.byte(c))
   end))
end

-- The same HMAC through libcrypto when LuaJIT's FFI can load it: the load
-- generator shares the machine with the bot under test, and the pure-Lua
-- SHA-1 above costs it several times more CPU per request. Same bytes.
local hmac_key -- TOKEN, for the FFI path
local fast_sign
do
   local ok, ffi = pcall(require, "ffi")
   if ok then
      local lib
      pcall(ffi.cdef, [[
         typedef struct evp_md_st EVP_MD;
         const EVP_MD *EVP_sha1(void);
         unsigned char *HMAC(const EVP_MD *md, const void *key, int key_len,
                             const unsigned char *d, size_t n, unsigned char *out,
                             unsigned int *out_len);
         int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
      ]])
      for _, name in ipairs({ "crypto", "libcrypto.so.3" }) do
         local l_ok, l = pcall(ffi.load, name)
         if l_ok then lib = l; break end
      end
      if lib then
         local md, b64 = ffi.new("unsigned char[20]"), ffi.new("unsigned char[32]")
         fast_sign = function(data)
            lib.HMAC(lib.EVP_sha1(), hmac_key, #hmac_key, data, #data, md, nil)
            return ffi.string(b64, lib.EVP_EncodeBlock(b64, md, 20))
         end
      end
   end
end

-- urlencode()'s results for the values that repeat (5 bodies, the business
-- number); the other fields are [A-Za-z0-9] or encoded once per customer.
local enc, enc_n = {}, 0

local next_tid = 0
function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
end

function init(args)
   tid = tid or 0
   nonce = args[1]
   if nonce == nil or #nonce ~= 16 then
      math.randomseed(os.time() * 100 + tid)
      nonce = string.format("%08x%08x", math.random(0, 2147483646), math.random(0, 2147483646))
   end
   nthreads = tonumber(args[2] or "2")
   customers = tonumber(args[3] or "1000")
   local token = args[4]
   signed_url = args[5]
   if token and token ~= "" then
      hmac_key = token
      local k = token
      if #k > 64 then k = sha1(k) end
      k = k .. string.rep("\0", 64 - #k)
      local i, o = {}, {}
      for n = 1, 64 do
         i[n] = char(bxor(byte(k, n), 0x36))
         o[n] = char(bxor(byte(k, n), 0x5c))
      end
      ipad, opad = concat(i), concat(o)
   end
   per_thread = math.floor(customers / nthreads)
   k = 0
   headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["User-Agent"] = "TwilioProxy/1.1",
      ["X-Home-Region"] = "us1",
      ["X-Twilio-Signature"] = "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
   }
end

-- The request is built as one string, without wrk.format (its pairs() over
-- the headers and its table keep LuaJIT from compiling the function: the
-- load generator shares the machine with the bot under test). Same headers,
-- same body bytes as wrk.format would send (header order aside), Host as
-- wrk.format sets it (wrk.host).
local head -- "POST <path> HTTP/1.1\r\n" and the constant header lines
local profiles, froms = {}, {} -- per customer: encoded ProfileName, From
local ENC_BODY, ENC_TO = {}, nil

local function encoded(v)
   local e = enc[v]
   if e == nil then
      e = urlencode(v)
      if enc_n < 4096 then enc[v] = e; enc_n = enc_n + 1 end
   end
   return e
end

function request()
   if head == nil then
      local lines = { "POST " .. wrk.path .. " HTTP/1.1" }
      for name, value in pairs(headers) do
         if name ~= "I-Twilio-Idempotency-Token" and name ~= "X-Twilio-Signature" then
            lines[#lines + 1] = name .. ": " .. value
         end
      end
      lines[#lines + 1] = "Host: " .. (wrk.headers["Host"] or wrk.host)
      head = concat(lines, "\r\n") .. "\r\n"
      for n, b in ipairs(BODIES) do ENC_BODY[n] = encoded(b) end
      ENC_TO = encoded(BUSINESS)
   end
   local local_idx = k % per_thread
   local lap = math.floor(k / per_thread)
   local cust = local_idx * nthreads + tid
   local nbody = (lap % #BODIES) + 1
   local body = BODIES[nbody]
   local sid = string.format("SM%s%02x%014x", nonce, tid, k)
   k = k + 1
   local wa = string.format("1555%07d", 1000 + cust)
   local profile = "Customer " .. cust
   local token = string.format("%s-%02x-%x", nonce, tid, k)
   local eprof, efrom = profiles[cust], froms[cust]
   if eprof == nil then
      eprof = urlencode(profile); profiles[cust] = eprof
      efrom = urlencode("whatsapp:+" .. wa); froms[cust] = efrom
   end
   -- the fields in the order Twilio sends them
   local form = "SmsMessageSid=" .. sid .. "&NumMedia=0&ProfileName=" .. eprof ..
      "&MessageType=text&SmsSid=" .. sid .. "&WaId=" .. wa ..
      "&SmsStatus=received&Body=" .. ENC_BODY[nbody] .. "&To=" .. ENC_TO ..
      "&NumSegments=1&ReferralNumMedia=0&MessageSid=" .. sid ..
      "&AccountSid=" .. ACCOUNT .. "&From=" .. efrom .. "&ApiVersion=2010-04-01"
   local sig = headers["X-Twilio-Signature"]
   if ipad then
      -- byte order of the names (all distinct): the SDKs' sort
      local data = signed_url ..
         "AccountSid" .. ACCOUNT .. "ApiVersion2010-04-01" .. "Body" .. body ..
         "Fromwhatsapp:+" .. wa .. "MessageSid" .. sid .. "MessageTypetext" ..
         "NumMedia0" .. "NumSegments1" .. "ProfileName" .. profile ..
         "ReferralNumMedia0" .. "SmsMessageSid" .. sid .. "SmsSid" .. sid ..
         "SmsStatusreceived" .. "To" .. BUSINESS .. "WaId" .. wa
      sig = fast_sign and fast_sign(data) or base64(hmac_sha1(data))
   end
   return head .. "I-Twilio-Idempotency-Token: " .. token ..
      "\r\nX-Twilio-Signature: " .. sig ..
      "\r\nContent-Length: " .. #form .. "\r\n\r\n" .. form
end

-- One machine-readable line for e2e.sh (latencies in microseconds).
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
      '"err_write":%d,"err_status":%d,"err_timeout":%d,"lat_mean_us":%.1f,"lat_stdev_us":%.1f,' ..
      '"lat_max_us":%d,"p50_us":%d,"p75_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, latency.mean, latency.stdev, latency.max, latency:percentile(50),
      latency:percentile(75), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
