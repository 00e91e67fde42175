#pragma once

// A guard around CAF 0.17.6's loading of a `caf::message` from bytes.
//
// CAF's deserializer throws on some malformed input instead of returning an
// error: a `caf::variant` (inside `caf::config_value` and CAF's stream
// messages, all built-in types any peer may name) whose type index is out of
// range raises `std::runtime_error("invalid type found")`. The middleman
// deserializes a remote message on a scheduler thread (a BASP worker) or in
// the BASP broker, and neither catches: one such message from a peer that
// completed the handshake would stop the node, before any valmesh code sees
// it.
//
// `message_guard.cpp` defines `caf::message::load(caf::deserializer&)` in
// the program, which the dynamic linker binds in place of libcaf_core's
// (every call to it, from libcaf_core and libcaf_io alike, goes through the
// dynamic symbol table). It calls CAF's own, turns an exception into
// `sec::malformed_basp_message` and counts it; the middleman then drops the
// message as it drops any it cannot read.

#include <cstdint>

namespace valmesh {

/// Whether the guard is in force in this process: the program's definition
/// is the one the dynamic linker binds, and CAF's own was found behind it.
bool message_guard_active();

/// Messages whose loading threw and was turned into an error, since start.
uint64_t malformed_messages_dropped();

}  // namespace valmesh
