#include "runtime/tracing/packed_span.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

namespace valmesh {

namespace {

// The log: records one after the other, each a `record` tag and then
//   attribute      the key (a `known_attribute` byte; for `none` the name as
//                  a string), the value's `value_type` byte and the value
//   event          name string, i64 time, u16 count, that many attributes
//   name / status_message / trace_state   a string
// A string is a u32 length and the bytes; numbers are in host order (the log
// never leaves the process).

using packed_log::record;
using packed_log::value_type;

/// Reads what `packed_span`'s `put` functions wrote.
struct reader {
  const char* at;
  const char* end;

  bool done() const noexcept { return at >= end; }

  template <class T>
  T number() noexcept {
    T x;
    std::memcpy(&x, at, sizeof(T));
    at += sizeof(T);
    return x;
  }

  std::string_view string() noexcept {
    auto n = number<uint32_t>();
    std::string_view s{at, n};
    at += n;
    return s;
  }

  attribute_key key() {
    auto k = static_cast<known_attribute>(number<uint8_t>());
    if (k == known_attribute::none) return attribute_key{string()};
    return attribute_key{k};
  }

  std::string_view key_name() noexcept {
    auto k = static_cast<known_attribute>(number<uint8_t>());
    return k == known_attribute::none ? string() : to_string(k);
  }

  attribute_value value() {
    switch (number<value_type>()) {
      case value_type::string:
        return std::string{string()};
      case value_type::integer:
        return number<int64_t>();
      case value_type::floating:
        return number<double>();
      case value_type::boolean:
        break;
    }
    return number<uint8_t>() != 0;
  }

  /// Skips a value; returns the string if it was one.
  std::optional<std::string_view> skip_value() noexcept {
    switch (number<value_type>()) {
      case value_type::string:
        return string();
      case value_type::integer:
      case value_type::floating:
        at += 8;
        break;
      case value_type::boolean:
        at += 1;
        break;
    }
    return std::nullopt;
  }

  void skip_event() noexcept {
    string();
    number<int64_t>();
    auto n = number<uint16_t>();
    for (uint16_t i = 0; i < n; ++i) {
      key_name();
      skip_value();
    }
  }
};

/// Sets `key` to `v` in `xs`, replacing an earlier value.
void set_in(attribute_list& xs, attribute_key key, attribute_value v) {
  for (auto& a : xs)
    if (a.key == key) {
      a.value = std::move(v);
      return;
    }
  xs.push_back({std::move(key), std::move(v)});
}

}  // namespace

// -- the buffer ---------------------------------------------------------------

packed_span::byte_log::byte_log(byte_log&& other) noexcept
    : bytes_(std::move(other.bytes_)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

packed_span::byte_log& packed_span::byte_log::operator=(
    byte_log&& other) noexcept {
  bytes_ = std::move(other.bytes_);
  size_ = std::exchange(other.size_, 0);
  capacity_ = std::exchange(other.capacity_, 0);
  return *this;
}

packed_span::byte_log::byte_log(const byte_log& other) {
  if (other.size_ > 0)
    std::memcpy(append(other.size_), other.begin(), other.size_);
}

packed_span::byte_log& packed_span::byte_log::operator=(const byte_log& other) {
  if (this != &other) *this = byte_log{other};
  return *this;
}

void packed_span::byte_log::grow(size_t n) {
  auto want = std::max<size_t>({size_ + n, size_t{capacity_} * 2, 64});
  auto bigger = std::make_unique_for_overwrite<char[]>(want);
  if (size_ > 0) std::memcpy(bigger.get(), bytes_.get(), size_);
  bytes_ = std::move(bigger);
  capacity_ = static_cast<uint32_t>(want);
}

template <class T>
void packed_span::put(T x) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::memcpy(append(sizeof(T)), &x, sizeof(T));
}

void packed_span::put_string(std::string_view s) {
  auto n = static_cast<uint32_t>(s.size());
  auto* at = append(sizeof(n) + n);
  std::memcpy(at, &n, sizeof(n));
  if (n > 0) std::memcpy(at + sizeof(n), s.data(), n);
}

void packed_span::put_key(const attribute_key& key) {
  auto k = key.known();
  put(static_cast<uint8_t>(k));
  if (k == known_attribute::none) put_string(key.name());
}

void packed_span::put_typed(std::string_view s) {
  put(value_type::string);
  put_string(s);
}

void packed_span::put_typed(int64_t x) {
  put(value_type::integer);
  put(x);
}

void packed_span::put_typed(double x) {
  put(value_type::floating);
  put(x);
}

void packed_span::put_typed(bool x) {
  put(value_type::boolean);
  put(static_cast<uint8_t>(x));
}

void packed_span::put_value(const attribute_value& v) {
  std::visit([this](const auto& x) { put_typed(x); }, v);
}

// -- recording ----------------------------------------------------------------

packed_span::packed_span(const trace_id& trace, const span_id& id,
                         const span_id& parent, span_kind kind,
                         int64_t start_unix_nano, size_t reserve_bytes)
    : head_{trace, id, parent, start_unix_nano, 0, kind, status_code::unset} {
  if (reserve_bytes > 0) reserve(reserve_bytes);
}

void packed_span::reset(const trace_id& trace, const span_id& id,
                        const span_id& parent, span_kind kind,
                        int64_t start_unix_nano) noexcept {
  head_ = {trace, id, parent, start_unix_nano, 0, kind, status_code::unset};
  log_.clear();
}

packed_span::packed_span(const span_data& s)
    : packed_span(s.trace, s.span, s.parent, s.kind, s.start_unix_nano) {
  head_.end = s.end_unix_nano;
  set_name(s.name);
  for (auto& a : s.attributes) set_attribute(a.key, a.value);
  for (auto& e : s.events) add_event(e.name, e.time_unix_nano, e.attributes);
  set_status(s.status, s.status_message);
  set_trace_state(s.trace_state);
}

void packed_span::set_name(std::initializer_list<std::string_view> parts) {
  uint32_t n = 0;
  for (auto p : parts) n += static_cast<uint32_t>(p.size());
  auto* at = append(1 + sizeof(n) + n);
  *at++ = static_cast<char>(record::name);
  std::memcpy(at, &n, sizeof(n));
  at += sizeof(n);
  for (auto p : parts) {
    if (!p.empty()) std::memcpy(at, p.data(), p.size());
    at += p.size();
  }
}

template <class T>
void packed_span::set_custom(std::string_view key, T value) {
  put(record::attribute);
  put(known_attribute::none);
  put_string(key);
  put_typed(value);
}

template void packed_span::set_custom(std::string_view, std::string_view);
template void packed_span::set_custom(std::string_view, int64_t);
template void packed_span::set_custom(std::string_view, double);
template void packed_span::set_custom(std::string_view, bool);

void packed_span::set_attribute(const attribute_key& key,
                                const attribute_value& value) {
  put(record::attribute);
  put_key(key);
  put_value(value);
}

void packed_span::add_event(std::string_view name, int64_t time_unix_nano,
                            const attribute_list& attributes) {
  put(record::event);
  put_string(name);
  put(time_unix_nano);
  put(static_cast<uint16_t>(attributes.size()));
  for (auto& a : attributes) {
    put_key(a.key);
    put_value(a.value);
  }
}

void packed_span::set_status(status_code code, std::string_view message) {
  head_.status = code;
  if (code != status_code::error) return;  // `unpack` drops the message
  put(record::status_message);
  put_string(message);
}

void packed_span::set_trace_state(std::string_view state) {
  if (state.empty()) return;
  put(record::state);
  put_string(state);
}

span_data packed_span::unpack(const header& head, std::string_view log) {
  span_data s;
  s.trace = head.trace;
  s.span = head.span;
  s.parent = head.parent;
  s.start_unix_nano = head.start;
  s.end_unix_nano = head.end;
  s.kind = head.kind;
  s.status = head.status;
  reader in{log.data(), log.data() + log.size()};
  while (!in.done()) {
    switch (in.number<record>()) {
      case record::attribute: {
        auto k = in.key();
        set_in(s.attributes, std::move(k), in.value());
        break;
      }
      case record::event: {
        span_event e;
        e.name = in.string();
        e.time_unix_nano = in.number<int64_t>();
        auto n = in.number<uint16_t>();
        e.attributes.reserve(n);
        for (uint16_t i = 0; i < n; ++i) {
          auto k = in.key();
          e.attributes.push_back({std::move(k), in.value()});
        }
        s.events.push_back(std::move(e));
        break;
      }
      case record::name:
        s.name = in.string();
        break;
      case record::status_message:
        s.status_message = in.string();
        break;
      case record::state:
        s.trace_state = in.string();
        break;
    }
  }
  if (s.status != status_code::error) s.status_message.clear();
  return s;
}

std::optional<std::string_view> packed_span::string_attribute(
    std::string_view log, std::string_view key) {
  std::optional<std::string_view> found;
  reader in{log.data(), log.data() + log.size()};
  while (!in.done()) {
    switch (in.number<record>()) {
      case record::attribute:
        if (in.key_name() == key)
          found = in.skip_value();
        else
          in.skip_value();
        break;
      case record::event:
        in.skip_event();
        break;
      case record::name:
      case record::status_message:
      case record::state:
        in.string();
        break;
    }
  }
  return found;
}

// -- span_returns -------------------------------------------------------------

void span_returns::give_back(std::vector<packed_span>&& spans) {
  std::erase_if(spans, [](const packed_span& s) {
    return s.packed_capacity() == 0 || s.packed_capacity() > max_log_bytes;
  });
  if (spans.empty()) return;
  std::unique_lock guard{mtx_};
  if (waiting_.size() >= max_waiting) return;  // freed where they are
  waiting_.push_back(std::move(spans));
}

bool span_returns::take(std::vector<packed_span>& into) {
  std::unique_lock guard{mtx_};
  if (waiting_.empty()) return false;
  into = std::move(waiting_.front());
  waiting_.erase(waiting_.begin());
  return true;
}

}  // namespace valmesh
