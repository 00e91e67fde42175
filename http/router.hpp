#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "http/server.hpp"

namespace valmesh::web {

/// A request with what its route extracted.
struct request_context {
  request req;
  std::string query_string;  ///< after '?', raw
  /// Decoded, in the pattern's order (inline: no route has more than 4).
  boost::container::small_vector<std::pair<std::string, std::string>, 4> params;
  std::string rest;  ///< what a trailing `*` matched, raw (with leading '/')

  /// Returns the decoded path parameter `name` (empty if absent).
  std::string_view param(std::string_view name) const;

  /// Returns the decoded query parameter `key`, if present.
  std::optional<std::string> query(std::string_view key) const;
};

using route_handler = std::function<void(request_context&&, responder)>;

/// Maps method and path to handlers. Patterns are literal segments,
/// `:name` segments and an optional trailing `*`:
/// `/api/services/:name/:id/heartbeat`, `/proxy/:name/*`.
class router {
 public:
  /// Adds a route for one method (GET routes also answer HEAD).
  void add(beast_http::verb method, std::string_view pattern, route_handler h);

  /// Adds a route for every method.
  void any(std::string_view pattern, route_handler h);

  /// Runs the handler of the first matching route; answers 404 for an
  /// unknown path and 405 (with `Allow`) for a known path and another method.
  /// Tells `done` the id of the route that takes the request
  /// (`responder::set_route`).
  void dispatch(request&& req, responder done) const;

  /// The routes' patterns, by route id: routes of one pattern (one per
  /// method) share an id. The label of the front end's per-route series,
  /// so their number is bounded by the code, never by the requests.
  const std::vector<std::string>& patterns() const noexcept {
    return patterns_;
  }

 private:
  struct route {
    uint16_t id = 0;                         ///< index in patterns_
    std::optional<beast_http::verb> method;  ///< nullopt: any
    std::vector<std::string> segments;
    bool wildcard = false;
    route_handler handler;
  };

  /// The routes a request whose first segment is `first` may match, by
  /// index in registration order (those of that literal first segment and
  /// those whose first segment is a parameter or `*`); nullptr: only the
  /// latter (`open_first_`).
  const std::vector<uint16_t>* candidates(std::string_view first) const;

  std::vector<route> routes_;
  std::vector<std::string> patterns_;
  /// Sorted by first segment: each literal first segment's candidates.
  std::vector<std::pair<std::string, std::vector<uint16_t>>> by_first_;
  /// The routes whose first segment is a parameter or `*`, or with none.
  std::vector<uint16_t> open_first_;
};

/// Decodes %XX escapes (and '+' as space when `plus_is_space`); nothing on
/// a malformed escape.
std::optional<std::string> percent_decode(std::string_view in,
                                          bool plus_is_space = false);

/// Parses an event id as `Last-Event-ID` (or `?lastEventId=`) carries it:
/// 1 to 20 decimal digits whose value fits 64 bits; nothing otherwise (a
/// sign, spaces, anything else).
std::optional<uint64_t> parse_event_id(std::string_view text) noexcept;

}  // namespace valmesh::web
