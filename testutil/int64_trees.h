// Runtime-level test helpers for int64 order-statistics trees: create one in a
// RuntimeWriteBatch, add a map of key -> weight to it, read a version back as such a map.
// Header-only (the tests that use them link the tree library). Thread-safety: none needed.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "persistence/runtime.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"
#include "tree/query.h"

namespace cowtree::testutil {

using Int64Entries = std::map<int64_t, int64_t>;  // key -> weight

// Creates an int64 tree named `name` in the batch; returns its id.
inline TreeId CreateInt64Tree(RuntimeWriteBatch* b, const std::string& name) {
  return b->CreateTree(name, tree::kOrderStatTreeTypeId,
                       tree::OrderStatTreeParams(tree::KeyType::kInt64));
}

// Adds every (key, weight) of `entries` to tree `id` in the batch.
inline void AddInt64Ops(RuntimeWriteBatch* b, TreeId id, const Int64Entries& entries) {
  for (const auto& [k, w] : entries) {
    tree::AppendOrderStatOp(b->MutableOps(id), tree::EncodeInt64Key(k), w);
  }
}

// Every entry (negative weights included) of the int64 tree `info` as of `epoch`.
inline Int64Entries Int64EntriesAt(const TreeInfo& info, uint64_t epoch) {
  auto v = tree::AsOrderStatTree(info.tree.get())->VersionAt(epoch);
  Int64Entries out;
  Status st = tree::ForEachAll(*v, [&](uint64_t key, int64_t w) {
    out[tree::DecodeInt64Key(key)] = w;
    return true;
  });
  if (!st.ok()) out.clear();
  return out;
}

}  // namespace cowtree::testutil
