-- Runs an Argo CD resource health check the way Argo CD does (Lua 5.1
-- semantics, the object as the global `obj`, only the base/string/table/math
-- libraries), on one Kubernetes object read as JSON from stdin.
-- Usage: lua5.1 argocd-health.lua SNIPPET.lua < object.json
-- Prints the returned table as JSON: {"status": ..., "message": ...}.
local cjson = require("cjson")

local path = arg[1]
if path == nil then
  io.stderr:write("usage: lua5.1 argocd-health.lua SNIPPET.lua < object.json\n")
  os.exit(2)
end
local file = assert(io.open(path, "r"))
local source = file:read("*a")
file:close()

-- Argo CD turns JSON null into nil; cjson keeps a sentinel, so drop it.
local function strip(value)
  if value == cjson.null then return nil end
  if type(value) ~= "table" then return value end
  local out = {}
  for k, v in pairs(value) do out[k] = strip(v) end
  return out
end

local obj = strip(cjson.decode(io.read("*a")))
local sandbox = {
  obj = obj,
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
  string = string, table = table, math = math,
}
local chunk, err = loadstring(source, "health.lua")
if chunk == nil then
  io.stderr:write("LUA_SYNTAX: " .. err .. "\n")
  os.exit(3)
end
setfenv(chunk, sandbox)
local ok, result = pcall(chunk)
if not ok then
  io.stderr:write("LUA_RUNTIME: " .. tostring(result) .. "\n")
  os.exit(4)
end
if type(result) ~= "table" then
  io.stderr:write("LUA_RESULT: the check returned " .. type(result) .. ", not a table\n")
  os.exit(5)
end
io.write(cjson.encode({ status = result.status, message = result.message }), "\n")
