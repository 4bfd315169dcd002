-- procslink.lua - a Wireshark dissector for procslink: JSON-RPC 2.0 in NETLINK_USERSOCK
-- messages, as captured on an nlmon device (link type NETLINK, 253) or written by
-- `procslink monitor --write`.
--
-- Use:  wireshark -X lua_script:procslink.lua capture.pcap
--       tshark -X lua_script:procslink.lua -r capture.pcap -V
-- or copy it into ~/.local/lib/wireshark/plugins/.
--
-- It takes the NETLINK link type over, decodes family 2 (NETLINK_USERSOCK) as procslink (all
-- procslink integers are big-endian, the netlink header's too) and hands every other family
-- to Wireshark's own netlink dissector. Fragmented messages are shown reassembled on their
-- last fragment.

local procslink = Proto("procslink", "procslink JSON-RPC over netlink")

local payload_types = { [1] = "JSON-RPC request", [2] = "JSON-RPC response" }

local f = {
  family = ProtoField.uint16("procslink.family", "Netlink family", base.DEC),
  nl_len = ProtoField.uint32("procslink.nl.len", "nlmsg_len (after the header)", base.DEC),
  nl_type = ProtoField.uint16("procslink.nl.type", "nlmsg_type", base.HEX),
  nl_flags = ProtoField.uint16("procslink.nl.flags", "nlmsg_flags", base.HEX),
  nl_seq = ProtoField.uint32("procslink.nl.seq", "nlmsg_seq", base.DEC),
  nl_pid = ProtoField.uint32("procslink.nl.pid", "Sender nl_pid", base.DEC),
  version = ProtoField.uint16("procslink.version", "Version", base.DEC),
  flag = ProtoField.uint16("procslink.flag", "Flag", base.HEX),
  length = ProtoField.uint32("procslink.length", "Body length", base.DEC),
  payload_type = ProtoField.uint16("procslink.payload_type", "Payload type", base.DEC, payload_types),
  reserved = ProtoField.uint16("procslink.fragment_index", "Reserved / fragment index", base.DEC),
  seq = ProtoField.uint32("procslink.seq", "Sequence", base.DEC),
  timestamp = ProtoField.uint64("procslink.timestamp", "Timestamp (ns)", base.DEC),
  kind = ProtoField.string("procslink.kind", "Kind"),
  method = ProtoField.string("procslink.method", "Method"),
  id = ProtoField.string("procslink.id", "Id"),
  body = ProtoField.string("procslink.body", "Body"),
  fragments = ProtoField.uint16("procslink.fragments", "Reassembled from fragments", base.DEC),
}
procslink.fields = f

local json_dissector = Dissector.get("json")
local netlink_dissector = Dissector.get("netlink")

-- Fragment bodies seen so far, by sender and sequence; and each frame's result, so a second
-- pass (Wireshark re-dissects frames) gives the same answer.
local pending = {}
local reassembled = {}

local function classify(body)
  local method = body:match('"method"%s*:%s*"([^"]*)"')
  local id = body:match('"id"%s*:%s*([^,}%s]+)')
  if body:sub(1, 1) == "[" then return "batch", nil, nil end
  if method then return (id and "request" or "notification"), method, id end
  if body:find('"error"%s*:') then return "error", nil, id end
  if body:find('"result"%s*:') then return "response", nil, id end
  return "invalid", nil, id
end

-- The whole body for this fragment's message when it completes it, else nil.
local function reassemble(pinfo, sender, seq, index, last, chunk)
  if reassembled[pinfo.number] then return reassembled[pinfo.number] end
  local key = sender .. ":" .. seq
  pending[key] = pending[key] or {}
  pending[key][index] = chunk
  if last then pending[key].last = index end
  local n = pending[key].last
  if n == nil then return nil end
  local parts = {}
  for i = 0, n do
    if pending[key][i] == nil then return nil end
    parts[#parts + 1] = pending[key][i]
  end
  pending[key] = nil
  local whole = { body = table.concat(parts), count = n + 1 }
  reassembled[pinfo.number] = whole
  return whole
end

local function add_body(tvb, pinfo, tree, body)
  local kind, method, id = classify(body:string())
  tree:add(f.kind, kind)
  if method then tree:add(f.method, method) end
  if id then tree:add(f.id, id) end
  pinfo.cols.info:set(kind .. " " .. (method or id or ""))
  tree:add(f.body, body:string())
  if json_dissector then json_dissector:call(tvb, pinfo, tree) end
end

function procslink.dissector(tvb, pinfo, tree)
  if tvb:len() < 16 then return 0 end
  local family = tvb(14, 2):uint()
  if family ~= 2 then
    if netlink_dissector then return netlink_dissector:call(tvb, pinfo, tree) end
    return 0
  end
  pinfo.cols.protocol = "procslink"
  local t = tree:add(procslink, tvb())
  t:add(f.family, tvb(14, 2))
  if tvb:len() < 16 + 40 then
    pinfo.cols.info = "not a procslink message (too short)"
    return tvb:len()
  end
  local nl = 16
  t:add(f.nl_len, tvb(nl, 4)); t:add(f.nl_type, tvb(nl + 4, 2)); t:add(f.nl_flags, tvb(nl + 6, 2))
  t:add(f.nl_seq, tvb(nl + 8, 4)); t:add(f.nl_pid, tvb(nl + 12, 4))
  local ph = nl + 16
  t:add(f.version, tvb(ph, 2)); t:add(f.flag, tvb(ph + 2, 2)); t:add(f.length, tvb(ph + 4, 4))
  t:add(f.payload_type, tvb(ph + 8, 2)); t:add(f.reserved, tvb(ph + 10, 2))
  t:add(f.seq, tvb(ph + 12, 4)); t:add(f.timestamp, tvb(ph + 16, 8))
  local body_at = ph + 24
  local body = tvb(body_at, tvb:len() - body_at)
  local flag = tvb(ph + 2, 2):uint()
  if bit.band(flag, 1) == 0 then
    add_body(body:tvb(), pinfo, t, body)
    return tvb:len()
  end
  local index = tvb(ph + 10, 2):uint()
  local whole = reassemble(pinfo, tvb(nl + 12, 4):uint(), tvb(ph + 12, 4):uint(), index,
                           bit.band(flag, 2) ~= 0, body:bytes():raw())
  if whole == nil then
    t:add(f.kind, "fragment")
    pinfo.cols.info:set("fragment #" .. index .. " of seq " .. tvb(ph + 12, 4):uint())
    return tvb:len()
  end
  local whole_tvb = ByteArray.new(whole.body, true):tvb("Reassembled procslink body")
  t:add(f.fragments, whole.count)
  add_body(whole_tvb, pinfo, t, whole_tvb())
  return tvb:len()
end

function procslink.init()
  pending = {}
  reassembled = {}
end

local encaps = wtap_encaps or wtap
DissectorTable.get("wtap_encap"):add(encaps.NETLINK, procslink)
