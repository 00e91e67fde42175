#include "actors/inspector.hpp"

#include <memory>

namespace valmesh {

namespace {

/// The walk's nodes, flat: children refer to their parent by index, so the
/// vector may grow while answers come in.
struct walk_node {
  actor_tree_node data;
  size_t parent = 0;
  std::vector<size_t> children;
};

struct inspector_state {
  static inline const char* name = "inspector";
  std::vector<walk_node> nodes;
  size_t pending = 0;
  bool finished = false;
  std::chrono::steady_clock::time_point deadline;
  tree_fn done;
};

using inspector_pointer = caf::stateful_actor<inspector_state>*;

actor_tree_node assemble(std::vector<walk_node>& xs, size_t i) {
  auto result = std::move(xs[i].data);
  for (auto c : xs[i].children) result.children.push_back(assemble(xs, c));
  return result;
}

void finish(inspector_pointer self) {
  auto& st = self->state;
  if (st.finished) return;
  st.finished = true;
  auto done = std::move(st.done);
  done(assemble(st.nodes, 0));
  self->quit();
}

void ask(inspector_pointer self, size_t index);

void on_figures(inspector_pointer self, size_t index, actor_figures& f) {
  auto& st = self->state;
  auto entries = std::move(f.children);
  auto& d = st.nodes[index].data;
  if (f.kind.empty()) f.kind = d.figures.kind;
  d.figures = std::move(f);
  for (auto& c : entries) {
    walk_node n;
    n.parent = index;
    n.data.name = c.name;
    n.data.figures.kind = c.kind;
    n.data.state = c.state;
    n.data.restarts = c.restarts;
    n.data.last_failure = c.last_failure;
    n.data.handle = c.handle;
    if (c.handle) n.data.figures.id = c.handle.id();
    st.nodes.push_back(std::move(n));
    auto j = st.nodes.size() - 1;
    st.nodes[index].children.push_back(j);
    if (st.nodes[j].data.handle) ask(self, j);
  }
}

void ask(inspector_pointer self, size_t index) {
  auto& st = self->state;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      st.deadline - std::chrono::steady_clock::now());
  left = std::max(left, std::chrono::milliseconds{1});
  ++st.pending;
  self->request<caf::message_priority::high>(st.nodes[index].data.handle, left,
                                             inspect_atom::value)
      .then(
          [self, index](actor_figures& f) {
            on_figures(self, index, f);
            if (--self->state.pending == 0) finish(self);
          },
          [self, index](caf::error& err) {
            auto& d = self->state.nodes[index].data;
            // A dead actor answers at once; a busy or stuck one times out.
            d.state =
                err == caf::sec::request_timeout ? "unresponsive" : "stopped";
            if (--self->state.pending == 0) finish(self);
          });
}

caf::behavior inspector_impl(inspector_pointer self, caf::actor root,
                             std::string root_name,
                             std::chrono::milliseconds timeout, tree_fn done) {
  auto& st = self->state;
  st.done = std::move(done);
  st.deadline = std::chrono::steady_clock::now() + timeout;
  walk_node top;
  top.data.name = std::move(root_name);
  top.data.figures.kind = "supervisor";
  top.data.handle = std::move(root);
  st.nodes.push_back(std::move(top));
  if (!st.nodes[0].data.handle) {
    st.nodes[0].data.state = "stopped";
    finish(self);
    return {};
  }
  ask(self, 0);
  return {[](caf::unit_t) {}};
}

}  // namespace

void inspect_tree(caf::actor_system& sys, caf::actor root,
                  std::string root_name, std::chrono::milliseconds timeout,
                  tree_fn done) {
  sys.spawn(inspector_impl, std::move(root), std::move(root_name), timeout,
            std::move(done));
}

const actor_tree_node* find_actor(const actor_tree_node& tree,
                                  const std::string& name) {
  if (tree.name == name) return &tree;
  for (auto& c : tree.children)
    if (auto* x = find_actor(c, name)) return x;
  return nullptr;
}

}  // namespace valmesh
