#include "runtime/store/store_format.hpp"

#include <cstring>

#include <boost/crc.hpp>

namespace valmesh {

store_mutation store_mutation::put(service_instance x) {
  store_mutation m;
  m.what = kind::put;
  m.instance = std::move(x);
  return m;
}

store_mutation store_mutation::bury(const tombstone& t) {
  store_mutation m;
  m.what = kind::bury;
  m.instance.name = t.name;
  m.instance.id = t.id;
  m.instance.node = t.node;
  m.instance.revision = t.revision;
  m.index = t.index;
  m.at_ms = t.removed_at_ms;
  return m;
}

store_mutation store_mutation::forget(std::string name, std::string id) {
  store_mutation m;
  m.what = kind::forget;
  m.instance.name = std::move(name);
  m.instance.id = std::move(id);
  return m;
}

store_mutation store_mutation::remove(std::string name, std::string id,
                                      uint64_t index) {
  store_mutation m;
  m.what = kind::remove_v1;
  m.instance.name = std::move(name);
  m.instance.id = std::move(id);
  m.index = index;
  return m;
}

tombstone store_mutation::as_tombstone() const {
  return tombstone{instance.name, instance.id,       instance.node,
                   index,         instance.revision, at_ms};
}

store_mutation store_mutation::mark_index(uint64_t index) {
  store_mutation m;
  m.what = kind::index;
  m.index = index;
  return m;
}

namespace store_format {

namespace {

// -- writing ----------------------------------------------------------------

void put_u32(uint32_t x, std::string& out) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((x >> (8 * i)) & 0xff);
  out.append(b, 4);
}

void put_varint(uint64_t x, std::string& out) {
  while (x >= 0x80) {
    out.push_back(static_cast<char>((x & 0x7f) | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<char>(x));
}

void put_signed(int64_t x, std::string& out) {
  // Zigzag, so small negative numbers stay short.
  put_varint((static_cast<uint64_t>(x) << 1) ^ static_cast<uint64_t>(x >> 63),
             out);
}

void put_string(std::string_view s, std::string& out) {
  put_varint(s.size(), out);
  out.append(s);
}

// -- reading ----------------------------------------------------------------

/// A cursor over a payload that refuses to read past its end.
class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}

  bool ok() const noexcept { return ok_; }
  bool at_end() const noexcept { return pos_ == in_.size(); }

  uint8_t byte() {
    if (pos_ >= in_.size()) return fail<uint8_t>();
    return static_cast<uint8_t>(in_[pos_++]);
  }

  uint64_t varint() {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return fail<uint64_t>();
      auto b = static_cast<uint8_t>(in_[pos_++]);
      x |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return x;
    }
    return fail<uint64_t>();
  }

  int64_t signed_varint() {
    auto z = varint();
    return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }

  std::string string() {
    auto n = varint();
    if (!ok_ || n > in_.size() - pos_) return fail<std::string>();
    std::string s{in_.substr(pos_, n)};
    pos_ += n;
    return s;
  }

  template <class T>
  T bounded(uint64_t max) {
    auto x = varint();
    if (x > max) return fail<T>();
    return static_cast<T>(x);
  }

 private:
  template <class T>
  T fail() {
    ok_ = false;
    pos_ = in_.size();
    return T{};
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace

uint32_t load_u32(const char* p) noexcept {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return x;
}

uint32_t crc32c(std::string_view bytes) noexcept {
  // CRC-32C (Castagnoli), reflected, as in iSCSI, ext4 and LevelDB.
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

std::string header(file_kind k) {
  std::string h{magic};
  put_u32(version, h);
  put_u32(static_cast<uint32_t>(k), h);
  return h;
}

header_state check_header(std::string_view bytes, file_kind k) noexcept {
  auto expected = header(k);
  if (bytes.size() < header_size)
    return std::string_view{expected}.substr(0, bytes.size()) == bytes
               ? header_state::torn
               : header_state::foreign;
  return bytes.substr(0, header_size) == expected ? header_state::ok
                                                  : header_state::foreign;
}

void encode(const store_mutation& m, std::string& out) {
  out.push_back(static_cast<char>(m.what));
  auto& x = m.instance;
  switch (m.what) {
    case store_mutation::kind::put_v1:
    case store_mutation::kind::put_v2:
    case store_mutation::kind::put:
      put_string(x.id, out);
      put_string(x.name, out);
      put_string(x.version, out);
      put_string(x.host, out);
      put_varint(x.port, out);
      put_string(x.protocol, out);
      put_string(x.health_endpoint, out);
      put_varint(x.weight, out);
      put_varint(x.tags.size(), out);
      for (auto& t : x.tags) put_string(t, out);
      put_varint(x.metadata.size(), out);
      for (auto& [k, v] : x.metadata) {
        put_string(k, out);
        put_string(v, out);
      }
      put_signed(x.ttl_ms, out);
      put_signed(x.registered_at_ms, out);
      put_string(x.node, out);
      put_varint(x.create_index, out);
      put_varint(x.modify_index, out);
      if (m.what != store_mutation::kind::put_v1) {
        put_varint(static_cast<uint64_t>(x.status), out);
        put_varint(x.revision.stamp, out);
        put_string(x.revision.origin, out);
      }
      if (m.what == store_mutation::kind::put) {
        put_varint(x.registered.stamp, out);
        put_string(x.registered.origin, out);
      }
      break;
    case store_mutation::kind::remove_v1:
      put_string(x.name, out);
      put_string(x.id, out);
      put_varint(m.index, out);
      break;
    case store_mutation::kind::bury:
      put_string(x.name, out);
      put_string(x.id, out);
      put_string(x.node, out);
      put_varint(m.index, out);
      put_varint(x.revision.stamp, out);
      put_string(x.revision.origin, out);
      put_signed(m.at_ms, out);
      break;
    case store_mutation::kind::forget:
      put_string(x.name, out);
      put_string(x.id, out);
      break;
    case store_mutation::kind::index:
      put_varint(m.index, out);
      break;
  }
}

std::optional<store_mutation> decode(std::string_view payload) {
  reader in{payload};
  store_mutation m;
  auto k = in.byte();
  auto& x = m.instance;
  switch (k) {
    case static_cast<uint8_t>(store_mutation::kind::put_v1):
    case static_cast<uint8_t>(store_mutation::kind::put_v2):
    case static_cast<uint8_t>(store_mutation::kind::put): {
      m.what = static_cast<store_mutation::kind>(k);
      x.id = in.string();
      x.name = in.string();
      x.version = in.string();
      x.host = in.string();
      x.port = in.bounded<uint16_t>(65535);
      x.protocol = in.string();
      x.health_endpoint = in.string();
      x.weight = in.bounded<uint32_t>(UINT32_MAX);
      auto tags = in.bounded<size_t>(payload.size());
      for (size_t i = 0; i < tags && in.ok(); ++i)
        x.tags.push_back(in.string());
      auto keys = in.bounded<size_t>(payload.size());
      for (size_t i = 0; i < keys && in.ok(); ++i) {
        auto key = in.string();
        x.metadata[std::move(key)] = in.string();
      }
      x.ttl_ms = in.signed_varint();
      x.registered_at_ms = in.signed_varint();
      x.node = in.string();
      x.create_index = in.varint();
      x.modify_index = in.varint();
      if (m.what != store_mutation::kind::put_v1) {
        x.status = static_cast<health_status>(
            in.bounded<uint8_t>(static_cast<uint8_t>(health_status::critical)));
        x.revision.stamp = in.varint();
        x.revision.origin = in.string();
      }
      if (m.what == store_mutation::kind::put) {
        x.registered.stamp = in.varint();
        x.registered.origin = in.string();
      }
      if (x.name.empty() || x.id.empty()) return std::nullopt;
      break;
    }
    case static_cast<uint8_t>(store_mutation::kind::remove_v1):
      m.what = store_mutation::kind::remove_v1;
      x.name = in.string();
      x.id = in.string();
      m.index = in.varint();
      if (x.name.empty() || x.id.empty()) return std::nullopt;
      break;
    case static_cast<uint8_t>(store_mutation::kind::bury):
      m.what = store_mutation::kind::bury;
      x.name = in.string();
      x.id = in.string();
      x.node = in.string();
      m.index = in.varint();
      x.revision.stamp = in.varint();
      x.revision.origin = in.string();
      m.at_ms = in.signed_varint();
      if (x.name.empty() || x.id.empty()) return std::nullopt;
      break;
    case static_cast<uint8_t>(store_mutation::kind::forget):
      m.what = store_mutation::kind::forget;
      x.name = in.string();
      x.id = in.string();
      if (x.name.empty() || x.id.empty()) return std::nullopt;
      break;
    case static_cast<uint8_t>(store_mutation::kind::index):
      m.what = store_mutation::kind::index;
      m.index = in.varint();
      break;
    default:
      return std::nullopt;
  }
  if (!in.ok() || !in.at_end()) return std::nullopt;
  return m;
}

void append_record(std::string_view payload, std::string& out) {
  put_u32(static_cast<uint32_t>(payload.size()), out);
  put_u32(crc32c(payload), out);
  out.append(payload);
}

void append_record(const store_mutation& m, std::string& out) {
  // Encode in place: reserve the frame, write the payload after it, then
  // fill in its length and checksum.
  auto start = out.size();
  out.append(record_overhead, '\0');
  encode(m, out);
  auto payload = std::string_view{out}.substr(start + record_overhead);
  std::string frame;
  put_u32(static_cast<uint32_t>(payload.size()), frame);
  put_u32(crc32c(payload), frame);
  std::memcpy(out.data() + start, frame.data(), record_overhead);
}

}  // namespace store_format

}  // namespace valmesh
