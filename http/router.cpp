#include "http/router.hpp"

#include <algorithm>

#include <boost/container/small_vector.hpp>

namespace valmesh::web {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// A path's segments: on the stack up to 16 (every route of the API has
/// fewer), so matching a request allocates nothing.
using segment_list = boost::container::small_vector<std::string_view, 16>;

segment_list split_path(std::string_view path) {
  segment_list result;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    result.push_back(path.substr(i, j - i));
    i = j;
  }
  return result;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view in,
                                          bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view request_context::param(std::string_view name) const {
  for (auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

std::optional<std::string> request_context::query(std::string_view key) const {
  std::string_view qs = query_string;
  while (!qs.empty()) {
    auto amp = qs.find('&');
    auto pair = qs.substr(0, amp);
    qs =
        amp == std::string_view::npos ? std::string_view{} : qs.substr(amp + 1);
    auto eq = pair.find('=');
    auto k = percent_decode(pair.substr(0, eq), true);
    if (!k || *k != key) continue;
    if (eq == std::string_view::npos) return std::string{};
    return percent_decode(pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

void router::add(beast_http::verb method, std::string_view pattern,
                 route_handler h) {
  route r;
  r.method = method;
  auto known = std::find(patterns_.begin(), patterns_.end(), pattern);
  r.id = static_cast<uint16_t>(known - patterns_.begin());
  if (known == patterns_.end()) patterns_.emplace_back(pattern);
  for (auto seg : split_path(pattern)) {
    if (seg == "*") {
      r.wildcard = true;
      break;
    }
    r.segments.emplace_back(seg);
  }
  r.handler = std::move(h);
  auto index = static_cast<uint16_t>(routes_.size());
  // Index by the first segment, keeping registration order in each list.
  bool literal = !r.segments.empty() && r.segments.front().front() != ':';
  if (literal) {
    auto& first = r.segments.front();
    auto at = std::lower_bound(
        by_first_.begin(), by_first_.end(), first,
        [](const auto& e, const std::string& k) { return e.first < k; });
    if (at == by_first_.end() || at->first != first)
      at = by_first_.insert(at, {first, open_first_});
    at->second.push_back(index);
  } else {
    open_first_.push_back(index);
    for (auto& [_, xs] : by_first_) xs.push_back(index);
  }
  routes_.push_back(std::move(r));
}

const std::vector<uint16_t>* router::candidates(std::string_view first) const {
  auto at = std::lower_bound(
      by_first_.begin(), by_first_.end(), first,
      [](const auto& e, std::string_view k) { return e.first < k; });
  if (at == by_first_.end() || at->first != first) return nullptr;
  return &at->second;
}

void router::any(std::string_view pattern, route_handler h) {
  add(beast_http::verb::unknown, pattern, std::move(h));
  routes_.back().method.reset();
}

void router::dispatch(request&& req, responder done) const {
  auto target = std::string_view{req.target().data(), req.target().size()};
  auto qpos = target.find('?');
  auto path = target.substr(0, qpos);
  if (path.empty() || path[0] != '/') {
    done(make_error_response(
        {errc::invalid_argument, "the request target must be a path"},
        req.version()));
    return;
  }
  auto segments = split_path(path);
  auto method = req.method();
  auto effective =
      method == beast_http::verb::head ? beast_http::verb::get : method;
  std::string allow;
  // Only the routes that can match: those of the path's first segment,
  // and those that start with a parameter or `*` (the only ones for "/").
  const std::vector<uint16_t>* indices = &open_first_;
  if (!segments.empty()) {
    if (auto* c = candidates(segments.front())) indices = c;
  }
  for (auto index : *indices) {
    auto& r = routes_[index];
    if (r.wildcard ? segments.size() < r.segments.size()
                   : segments.size() != r.segments.size())
      continue;
    // The literal segments first: the parameters are decoded (and
    // allocated) only for the route that takes the request.
    bool match = true;
    size_t n_params = 0;
    for (size_t i = 0; i < r.segments.size() && match; ++i) {
      auto& want = r.segments[i];
      if (!want.empty() && want[0] == ':')
        ++n_params;
      else
        match = want == segments[i];
    }
    if (!match) continue;
    if (r.method && *r.method != effective) {
      if (!allow.empty()) allow += ", ";
      allow += std::string{beast_http::to_string(*r.method)};
      if (*r.method == beast_http::verb::get) allow += ", HEAD";
      continue;
    }
    decltype(request_context::params) params;
    params.reserve(n_params);
    for (size_t i = 0; i < r.segments.size(); ++i) {
      auto& want = r.segments[i];
      if (want.empty() || want[0] != ':') continue;
      auto value = percent_decode(segments[i]);
      if (!value) {
        done(make_error_response(
            {errc::invalid_argument, "malformed percent-encoding in the path"},
            req.version()));
        return;
      }
      params.emplace_back(want.substr(1), std::move(*value));
    }
    request_context ctx;
    if (qpos != std::string_view::npos)
      ctx.query_string = std::string{target.substr(qpos + 1)};
    ctx.params = std::move(params);
    if (r.wildcard) {
      // The raw remainder after the matched prefix, leading '/' kept.
      size_t pos = 0;
      if (!r.segments.empty()) {
        auto& last = segments[r.segments.size() - 1];
        pos = static_cast<size_t>(last.data() - path.data()) + last.size();
      }
      ctx.rest = std::string{path.substr(pos)};
      if (ctx.rest.empty()) ctx.rest = "/";
    }
    ctx.req = std::move(req);
    done.set_route(r.id);
    r.handler(std::move(ctx), std::move(done));
    return;
  }
  if (!allow.empty()) {
    auto res = make_error_response(
        {errc::method_not_allowed, std::string{beast_http::to_string(method)} +
                                       " is not allowed on " +
                                       std::string{path} + "; use " + allow},
        req.version());
    res.set(beast_http::field::allow, allow);
    done(std::move(res));
    return;
  }
  done(make_error_response(
      {errc::not_found, "no endpoint at " + std::string{path}}, req.version()));
}

std::optional<uint64_t> parse_event_id(std::string_view text) noexcept {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace valmesh::web
