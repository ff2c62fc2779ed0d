// The bulk apply path (tree/apply.cc, tree/leaf_pool.h) against a std::map model: random
// batches of inserts, deletes and weight updates, given unsorted and with duplicate keys (the
// hosted tree sorts and combines them), batches larger than a leaf and than a level-1 node,
// batches that empty leaves and the whole tree, leaf capacity edges, evicted leaves reloaded
// during a batch, and snapshot isolation: every version taken before a commit still reads
// exactly as before after it (recycled leaf buffers must never reach a live version).
// Structural invariants (tree/check.h) are asserted after every batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/tree_test_util.h"
#include "tree/block_cache.h"
#include "tree/check.h"
#include "tree/leaf_pool.h"
#include "tree/node_edit.h"
#include "tree/node_pool.h"
#include "tree/order_stat_tree_type.h"
#include "tree/query.h"
#include "tree/summaries.h"

namespace cowtree::tree {
namespace {

using testing::Entries;
using testing::ExpectMatchesModel;
using testing::FakeLeafLoader;
using testing::Model;

using EntryList = std::vector<std::pair<uint64_t, int64_t>>;

// Versions are released as soon as the host has a newer one: pinning is done by the test
// holding shared_ptrs, which is what a Snapshot does.
class ReleasingEnvironment : public TreeEnvironment {
 public:
  ObjectStore* object_store() override { return nullptr; }
  uint64_t OldestReadableEpoch() const override { return UINT64_MAX; }
};

// Raw op bytes as a WriteBatch holds them (insertion order, duplicates allowed).
std::string Encode(const std::vector<KeyWeight>& ops) {
  std::string out;
  for (const KeyWeight& op : ops) AppendOrderStatOp(&out, op.key, op.weight);
  return out;
}

enum class Order { kShuffled, kAscending, kDescending };

struct BulkWorkload {
  uint64_t seed;
  TreeShape shape;
  int batches;
  int max_batch_ops;
  uint64_t key_space;
  int delete_percent;     // ops cancelling an existing entry exactly (entries leave the tree)
  int update_percent;     // ops changing an existing entry's weight (it stays, or goes to 0)
  int duplicate_percent;  // ops repeating a key already in this batch
  Order order;
};

std::vector<KeyWeight> DrawOps(const BulkWorkload& w, const Model& m, std::mt19937_64& rng) {
  const int count = 1 + static_cast<int>(rng() % w.max_batch_ops);
  std::vector<uint64_t> existing;
  for (const auto& e : m.entries()) existing.push_back(e.first);
  std::vector<KeyWeight> ops;
  std::map<uint64_t, bool> cancelled;
  for (int i = 0; i < count; ++i) {
    const int r = static_cast<int>(rng() % 100);
    if (r < w.duplicate_percent && !ops.empty()) {
      const uint64_t key = ops[rng() % ops.size()].key;
      ops.push_back({key, rng() % 2 ? 1 : -1});
    } else if (r < w.duplicate_percent + w.delete_percent && !existing.empty()) {
      const uint64_t key = existing[rng() % existing.size()];
      if (!cancelled[key]) ops.push_back({key, -m.entries().at(key)});
      cancelled[key] = true;
    } else if (r < w.duplicate_percent + w.delete_percent + w.update_percent && !existing.empty()) {
      ops.push_back({existing[rng() % existing.size()], static_cast<int64_t>(rng() % 7) - 3});
    } else {
      ops.push_back({EncodeInt64Key(static_cast<int64_t>(rng() % w.key_space)),
                     1 + static_cast<int64_t>(rng() % 4)});
    }
    if (ops.back().weight == 0) ops.back().weight = 2;
  }
  if (w.order == Order::kShuffled) {
    std::shuffle(ops.begin(), ops.end(), rng);
  } else {
    std::stable_sort(ops.begin(), ops.end(), [&](const KeyWeight& a, const KeyWeight& b) {
      return w.order == Order::kAscending ? a.key < b.key : a.key > b.key;
    });
  }
  return ops;
}

struct Pinned {
  std::shared_ptr<const TreeVersion> version;
  EntryList entries;
};

void RunBulkWorkload(const BulkWorkload& w) {
  SCOPED_TRACE("seed " + std::to_string(w.seed) + " leaf " +
               std::to_string(w.shape.leaf_capacity_entries) + " fanout " +
               std::to_string(w.shape.fanout));
  std::mt19937_64 rng(w.seed);
  ReleasingEnvironment env;
  OrderStatTreeHost host(KeyType::kInt64, w.shape, &env);
  Model model;
  std::vector<Pinned> pinned;  // a few old versions, checked after every later batch
  for (int b = 0; b < w.batches; ++b) {
    const std::vector<KeyWeight> ops = DrawOps(w, model, rng);
    const std::shared_ptr<const TreeVersion> before = host.tree().current();
    const EntryList before_entries = Entries(*before);
    ASSERT_TRUE(model.Apply(ops));
    const uint64_t epoch = static_cast<uint64_t>(b) + 1;
    ASSERT_TRUE(host.Apply(Encode(ops), epoch).ok());
    host.FinishApply();
    const std::shared_ptr<const TreeVersion> v = host.tree().current();
    // Invariants every batch; the full model comparison every batch with few probes.
    ASSERT_TRUE(CheckInvariants(*v, false).ok()) << CheckInvariants(*v, false).ToString();
    ExpectMatchesModel(*v, model, rng, 4);
    if (::testing::Test::HasFatalFailure()) return;
    // The version before the commit is unchanged (copy-on-write).
    ASSERT_EQ(Entries(*before), before_entries) << "batch " << b;
    ASSERT_TRUE(CheckInvariants(*before, false).ok());
    if (b % 5 == 0) pinned.push_back({before, before_entries});
    if (pinned.size() > 4) pinned.erase(pinned.begin());
    for (const Pinned& p : pinned) ASSERT_EQ(Entries(*p.version), p.entries) << "batch " << b;
  }
}

TEST(TreeBulkApplyTest, ShuffledWithDuplicatesSmallShapes) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    RunBulkWorkload({seed, {4, 4}, 120, 200, 3000, 10, 10, 15, Order::kShuffled});
    if (HasFatalFailure()) return;
  }
}

TEST(TreeBulkApplyTest, AscendingAndDescendingBatches) {
  RunBulkWorkload({11, {8, 4}, 100, 300, 5000, 10, 10, 5, Order::kAscending});
  if (HasFatalFailure()) return;
  RunBulkWorkload({12, {8, 4}, 100, 300, 5000, 10, 10, 5, Order::kDescending});
}

TEST(TreeBulkApplyTest, HeavyDeletesEmptyLeaves) {
  for (uint64_t seed = 20; seed <= 22; ++seed) {
    RunBulkWorkload({seed, {6, 4}, 150, 150, 600, 45, 15, 10, Order::kShuffled});
    if (HasFatalFailure()) return;
  }
}

TEST(TreeBulkApplyTest, BatchesLargerThanNodesDefaultShape) {
  // Batches up to ~8 leaves of the default shape's level-1 node: many splits per run.
  RunBulkWorkload({30, kDefaultTreeShape, 10, 20000, 1u << 30, 5, 5, 5, Order::kShuffled});
}

TEST(TreeBulkApplyTest, MidShapesMixed) {
  RunBulkWorkload({40, {32, 8}, 40, 3000, 40000, 15, 15, 10, Order::kShuffled});
}

// Sequences of whole-tree deletes and refills at the capacity edges (c - 1, c, c + 1 entries
// per batch, and multiples of a level-1 node).
TEST(TreeBulkApplyTest, CapacityEdgesAndEmptyingTheTree) {
  const TreeShape shape{8, 4};
  const uint32_t cap = shape.leaf_capacity_entries;
  ReleasingEnvironment env;
  OrderStatTreeHost host(KeyType::kInt64, shape, &env);
  Model model;
  std::mt19937_64 rng(7);
  uint64_t epoch = 0;
  const std::vector<uint64_t> sizes = {1,        cap - 1,      cap,          cap + 1,
                                       2 * cap,  4 * cap,      4 * cap + 1,  16 * cap - 1,
                                       16 * cap, 16 * cap + 1, 64 * cap + 3, 3};
  for (uint64_t n : sizes) {
    SCOPED_TRACE("size " + std::to_string(n));
    std::vector<KeyWeight> fill;
    for (uint64_t i = 0; i < n; ++i) fill.push_back({EncodeInt64Key(static_cast<int64_t>(i)), 1});
    std::shuffle(fill.begin(), fill.end(), rng);
    ASSERT_TRUE(model.Apply(fill));
    ASSERT_TRUE(host.Apply(Encode(fill), ++epoch).ok());
    ExpectMatchesModel(*host.tree().current(), model, rng, 3);
    if (HasFatalFailure()) return;
    // Delete a middle range that empties whole leaves, then everything that is left.
    std::vector<KeyWeight> middle;
    for (uint64_t i = n / 4; i < n / 2; ++i) middle.push_back({EncodeInt64Key(i), -1});
    if (!middle.empty()) {
      ASSERT_TRUE(model.Apply(middle));
      ASSERT_TRUE(host.Apply(Encode(middle), ++epoch).ok());
      ExpectMatchesModel(*host.tree().current(), model, rng, 3);
      if (HasFatalFailure()) return;
    }
    const std::shared_ptr<const TreeVersion> full = host.tree().current();
    std::vector<KeyWeight> rest;
    for (const auto& [k, wt] : model.entries()) rest.push_back({k, -wt});
    ASSERT_TRUE(model.Apply(rest));
    ASSERT_TRUE(host.Apply(Encode(rest), ++epoch).ok());
    const std::shared_ptr<const TreeVersion> empty = host.tree().current();
    EXPECT_EQ(empty->root, nullptr);
    EXPECT_EQ(empty->leaf_count, 0u);
    EXPECT_TRUE(CheckInvariants(*empty, true).ok());
    EXPECT_EQ(full->entry_count, n - middle.size());  // the pinned version is intact
    ASSERT_TRUE(CheckInvariants(*full, true).ok());
  }
}

// Ascending appends of many leaves per batch build full leaves (split evenly from one merged
// run, not one key at a time), as the bulk path promises.
TEST(TreeBulkApplyTest, AscendingAppendsWriteFullLeaves) {
  const TreeShape shape{64, 16};
  ReleasingEnvironment env;
  OrderStatTreeHost host(KeyType::kInt64, shape, &env);
  Model model;
  uint64_t next = 0;
  for (uint64_t epoch = 1; epoch <= 40; ++epoch) {
    std::vector<KeyWeight> ops;
    for (int i = 0; i < 1000; ++i) ops.push_back({EncodeInt64Key(static_cast<int64_t>(next++)), 1});
    ASSERT_TRUE(model.Apply(ops));
    ASSERT_TRUE(host.Apply(Encode(ops), epoch).ok());
  }
  const auto v = host.tree().current();
  std::mt19937_64 rng(1);
  ExpectMatchesModel(*v, model, rng, 10);
  // Each batch's 1000 keys plus the previous last leaf fill ceil(n / 64) even leaves.
  EXPECT_LE(v->leaf_count, 40u * 17u);
  EXPECT_GE(static_cast<double>(v->entry_count) / static_cast<double>(v->leaf_count), 55.0);
}

// The root of a small tree has arrays for InternalNodePool::kSmallChildrenMax children, not
// the fan-out (a million one-leaf trees kept ~2.7 KiB of empty arrays each); it grows past
// them when a batch splits its leaves, and a later copy sizes it by its children again.
TEST(TreeBulkApplyTest, SmallTreeRootsAreSizedByTheirChildren) {
  const TreeShape shape{16, 64};
  ReleasingEnvironment env;
  OrderStatTreeHost host(KeyType::kInt64, shape, &env);
  Model model;
  std::vector<KeyWeight> ops{{EncodeInt64Key(3), 1}, {EncodeInt64Key(5), 2}};
  ASSERT_TRUE(model.Apply(ops));
  ASSERT_TRUE(host.Apply(Encode(ops), 1).ok());
  auto v = host.tree().current();
  ASSERT_EQ(v->root->child_count(), 1u);
  EXPECT_EQ(v->root->first_keys.capacity(), InternalNodePool::kSmallChildrenMax);
  EXPECT_EQ(v->root->leaves.capacity(), InternalNodePool::kSmallChildrenMax);
  // One batch of 40 leaves' worth: the root grows past its arrays (reallocates) in one apply.
  ops.clear();
  for (int i = 0; i < 640; ++i) ops.push_back({EncodeInt64Key(100 + i), 1});
  ASSERT_TRUE(model.Apply(ops));
  ASSERT_TRUE(host.Apply(Encode(ops), 2).ok());
  v = host.tree().current();
  ASSERT_TRUE(CheckInvariants(*v, true).ok());
  ASSERT_EQ(v->root->level, 1u);
  const size_t children = v->root->child_count();
  EXPECT_GE(children, 40u);
  // The next batch copies the root: room for its children plus the writer's slack, no more.
  ops = {{EncodeInt64Key(1), 1}};
  ASSERT_TRUE(model.Apply(ops));
  ASSERT_TRUE(host.Apply(Encode(ops), 3).ok());
  v = host.tree().current();
  EXPECT_LE(v->root->first_keys.capacity(), children + 8 + InternalNodePool::kClassChildren - 1);
  std::mt19937_64 rng(5);
  ExpectMatchesModel(*v, model, rng, 10);
}

// Leaves evicted after a checkpoint are loaded during the next batch; the model still holds.
TEST(TreeBulkApplyTest, EvictedLeavesReloadedDuringBatches) {
  FakeLeafLoader loader(KeyType::kInt64);
  OrderStatTree tree(KeyType::kInt64, {16, 4}, &loader);
  Model model;
  std::mt19937_64 rng(9);
  for (uint64_t epoch = 1; epoch <= 30; ++epoch) {
    std::vector<KeyWeight> ops;
    std::map<uint64_t, int64_t> batch;
    for (int i = 0; i < 400; ++i) {
      batch[EncodeInt64Key(static_cast<int64_t>(rng() % 5000))] += rng() % 4 == 0 ? -1 : 2;
    }
    for (const auto& [k, wt] : batch) {
      if (wt != 0) ops.push_back({k, wt});
    }
    ASSERT_TRUE(model.Apply(ops));
    ASSERT_TRUE(tree.Apply(ops, epoch).ok());
    auto v = tree.current();
    ExpectMatchesModel(*v, model, rng, 3);
    if (HasFatalFailure()) return;
    loader.Checkpoint(*v);
    for (const LeafSummary& s : Summaries(*v)) s.box->EvictClean();
  }
  EXPECT_GT(loader.loads(), 0u);
}

TEST(LeafDataPoolTest, RecyclesByCapacityClass) {
  LeafDataPool pool;
  const uint64_t reuses = pool.reuses();
  std::shared_ptr<LeafData> a = pool.Make(100);
  EXPECT_EQ(a->keys.capacity(), 112u);
  EXPECT_EQ(a->weights.capacity(), 0u);  // implicit unit weights need none
  EXPECT_TRUE(a->keys.empty());
  a->keys.assign(100, 7);
  a->weights.reserve(a->keys.capacity());  // what a writer that needs weights does
  a->weights.assign(100, -1);
  const LeafData* raw = a.get();
  std::shared_ptr<const LeafData> reader = a;  // a reader keeps it alive
  a.reset();
  EXPECT_EQ(pool.cached_bytes(), 0u);
  reader.reset();
  EXPECT_GT(pool.cached_bytes(), 0u);
  EXPECT_EQ(pool.cached_bytes(), sizeof(LeafData) + 2 * 112 * 8);
  std::shared_ptr<LeafData> b = pool.Make(97);  // same class: the recycled object, cleared
  EXPECT_EQ(b.get(), raw);
  EXPECT_TRUE(b->keys.empty() && b->weights.empty());
  EXPECT_EQ(b->weights.capacity(), 112u);  // its weights buffer came back with it
  EXPECT_EQ(pool.reuses(), reuses + 1);
  // A keys-only object of the class is preferred to one with a weights buffer.
  std::shared_ptr<LeafData> keys_only = pool.Make(100);
  const LeafData* keys_only_raw = keys_only.get();
  std::shared_ptr<LeafData> with_weights = pool.Make(100);
  with_weights->weights.reserve(with_weights->keys.capacity());
  with_weights.reset();
  keys_only.reset();
  EXPECT_EQ(pool.cached_bytes(), 2 * sizeof(LeafData) + 3 * 112 * 8);
  keys_only = pool.Make(100);
  EXPECT_EQ(keys_only.get(), keys_only_raw);
  EXPECT_EQ(keys_only->weights.capacity(), 0u);
  with_weights = pool.Make(100);
  EXPECT_EQ(with_weights->weights.capacity(), 112u);
  EXPECT_EQ(pool.cached_bytes(), 0u);
  keys_only.reset();
  with_weights.reset();
  // Weights reserved at another capacity: not a class, deleted.
  std::shared_ptr<LeafData> odd = pool.Make(100);
  odd->weights.reserve(50);
  const uint64_t cached = pool.cached_bytes();
  odd.reset();
  EXPECT_EQ(pool.cached_bytes(), cached);
  pool.Clear();
  std::shared_ptr<LeafData> c = pool.Make(113);  // next class: a new object
  EXPECT_NE(c.get(), raw);
  EXPECT_EQ(c->keys.capacity(), 128u);
  // Grown past its class (not by the writer, but possible): deleted, not cached.
  c->keys.reserve(1000);
  c.reset();
  EXPECT_EQ(pool.cached_bytes(), 0u);
  // Over the pooled maximum: exact and unpooled.
  std::shared_ptr<LeafData> big = pool.Make(LeafDataPool::kPooledEntriesMax + 1);
  EXPECT_EQ(big->keys.capacity(), LeafDataPool::kPooledEntriesMax + 1);
  big.reset();
  EXPECT_EQ(pool.cached_bytes(), 0u);
  b.reset();
  EXPECT_GT(pool.cached_bytes(), 0u);
  pool.Clear();
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

// A full pool evicts from the next non-empty class after its cursor, skipping the class being
// cached, and wraps around past the last class.
TEST(LeafDataPoolTest, FullPoolEvictsTheNextOtherClassInTurn) {
  constexpr uint64_t kS = sizeof(LeafData);
  auto bytes = [](uint64_t cls) { return kS + cls * LeafDataPool::kClassEntries * 8; };
  LeafDataPool pool(bytes(1) + bytes(2) + bytes(3));  // room for one object of classes 1, 2, 3
  auto make = [&](size_t cls) { return pool.Make(cls * LeafDataPool::kClassEntries); };
  // All made before any is cached: distinct objects.
  std::shared_ptr<LeafData> x1 = make(1), x2 = make(2), x3 = make(3), y3 = make(3), z1 = make(1),
                            w2 = make(2), v3 = make(3);
  const LeafData *x2_raw = x2.get(), *w2_raw = w2.get();
  x1.reset();
  x2.reset();
  x3.reset();
  EXPECT_EQ(pool.cached_bytes(), bytes(1) + bytes(2) + bytes(3));
  y3.reset();  // full: class 1 (the first after the cursor) goes; still no room for y3
  EXPECT_EQ(pool.cached_bytes(), bytes(2) + bytes(3));
  z1.reset();  // fits
  EXPECT_EQ(pool.cached_bytes(), bytes(1) + bytes(2) + bytes(3));
  w2.reset();  // full: class 2 is the one being cached, so class 3 goes; w2 fits then
  EXPECT_EQ(pool.cached_bytes(), bytes(1) + 2 * bytes(2));
  v3.reset();  // full: nothing after class 3, so the search wraps around to class 1
  EXPECT_EQ(pool.cached_bytes(), 2 * bytes(2));
  std::shared_ptr<LeafData> again1 = make(1);  // both class-1 objects were evicted: a new one
  EXPECT_EQ(pool.cached_bytes(), 2 * bytes(2));
  std::shared_ptr<LeafData> a2 = make(2), b2 = make(2);
  EXPECT_EQ(a2.get(), w2_raw);  // last in, first out
  EXPECT_EQ(b2.get(), x2_raw);
  EXPECT_EQ(pool.cached_bytes(), 0u);
  // The cursor is now at class 1's list: with classes 1 and 2 cached, a full pool evicts from
  // class 2 (the next after the cursor), not from class 1.
  b2.reset();
  again1.reset();
  std::shared_ptr<LeafData> c3 = make(3);
  a2.reset();  // cached now: classes 1, 2, 2
  EXPECT_EQ(pool.cached_bytes(), bytes(1) + 2 * bytes(2));
  c3.reset();  // full: one class-2 object goes (the last cached, a2), then c3 fits
  EXPECT_EQ(pool.cached_bytes(), bytes(1) + bytes(2) + bytes(3));
  std::shared_ptr<LeafData> d2 = make(2);
  EXPECT_EQ(d2.get(), x2_raw);  // a2, cached last, was the one evicted
  EXPECT_EQ(pool.cached_bytes(), bytes(1) + bytes(3));
  d2.reset();
  pool.Clear();
  // Only the class being cached is cached: nothing to evict, the new object is dropped.
  LeafDataPool one(bytes(2));
  std::shared_ptr<LeafData> p = one.Make(32), q = one.Make(32);
  p.reset();
  q.reset();
  EXPECT_EQ(one.cached_bytes(), bytes(2));
}

TEST(LeafDataPoolTest, CachedBytesBounded) {
  LeafDataPool pool;
  std::vector<std::shared_ptr<LeafData>> live;
  const uint64_t per = LeafDataPool::kPooledEntriesMax * 16;
  const uint64_t count = LeafDataPool::kCachedBytesMax / per + 10;
  for (uint64_t i = 0; i < count; ++i) live.push_back(pool.Make(LeafDataPool::kPooledEntriesMax));
  live.clear();
  EXPECT_LE(pool.cached_bytes(), LeafDataPool::kCachedBytesMax);
  EXPECT_GT(pool.cached_bytes(), LeafDataPool::kCachedBytesMax / 2);
  pool.Clear();
}

TEST(InternalNodePoolTest, RecyclesByLevelKindAndClass) {
  InternalNodePool pool;
  const uint64_t reuses = pool.reuses();
  auto leaf_box = std::allocate_shared<LeafBox>(
      CachingAllocator<LeafBox>(), std::make_shared<LeafData>(LeafData{{5}, {1}}), 1, 1);
  std::weak_ptr<LeafBox> watch = leaf_box;
  std::shared_ptr<InternalNode> a = pool.Make(70, 1);
  EXPECT_EQ(a->level, 1u);
  EXPECT_EQ(a->first_keys.capacity(), 80u);
  EXPECT_EQ(a->leaves.capacity(), 80u);
  EXPECT_EQ(a->nodes.capacity(), 0u);  // a level-1 node reserves leaves only
  a->epoch = 9;
  InsertLeaves(a.get(), 0, std::span<const std::shared_ptr<LeafBox>>(&leaf_box, 1));
  leaf_box.reset();
  std::shared_ptr<InternalNode> copy = pool.CopyOf(*a, 72);
  EXPECT_EQ(copy->epoch, 9u);
  EXPECT_EQ(copy->child_count(), 1u);
  EXPECT_EQ(copy->leaves[0], a->leaves[0]);  // children shared, not copied
  const InternalNode* raw = a.get();
  a.reset();
  EXPECT_FALSE(watch.expired());  // the copy still holds the leaf
  EXPECT_GT(pool.cached_bytes(), 0u);
  // An upper-level request does not take the cached level-1 node.
  std::shared_ptr<InternalNode> upper = pool.Make(70, 2);
  EXPECT_NE(upper.get(), raw);
  EXPECT_EQ(upper->nodes.capacity(), 80u);
  std::shared_ptr<InternalNode> again = pool.Make(65, 1);  // same kind and class: reused, reset
  EXPECT_EQ(again.get(), raw);
  EXPECT_EQ(again->child_count(), 0u);
  EXPECT_EQ(again->epoch, 0u);
  EXPECT_EQ(pool.reuses(), reuses + 1);
  copy.reset();
  EXPECT_TRUE(watch.expired());  // recycling a node releases its children
  pool.Clear();
  EXPECT_EQ(pool.cached_bytes(), 0u);
}

// Requests of at most kSmallChildrenMax children get exact arrays, are counted like pooled
// nodes, and are deleted (not cached) when returned.
TEST(InternalNodePoolTest, SmallNodesAreExactCountedAndNotCached) {
  auto pool_counter = std::make_shared<std::atomic<int64_t>>(0);
  auto node_counter = std::make_shared<std::atomic<int64_t>>(0);
  InternalNodePool pool(InternalNodePool::kCachedBytesMax, pool_counter, node_counter);
  std::shared_ptr<InternalNode> small = pool.Make(3, 1);
  EXPECT_EQ(small->first_keys.capacity(), 3u);
  EXPECT_EQ(small->leaves.capacity(), 3u);
  EXPECT_EQ(node_counter->load(), static_cast<int64_t>(InternalNodePool::NodeBytes(*small)));
  EXPECT_LT(InternalNodePool::NodeBytes(*small), 512u);  // a 16-child node: ~940 B
  small.reset();
  EXPECT_EQ(node_counter->load(), 0);
  EXPECT_EQ(pool.cached_bytes(), 0u);
  EXPECT_EQ(pool_counter->load(), 0);
  std::shared_ptr<InternalNode> pooled = pool.Make(5, 1);  // just above: a 16-child class
  EXPECT_EQ(pooled->first_keys.capacity(), InternalNodePool::kClassChildren);
  pooled.reset();
  EXPECT_GT(pool.cached_bytes(), 0u);
  pool.Clear();
}

// A full pool makes room for a recycled node by evicting other classes, so nodes of a rarely
// requested class cannot keep the common class out for good.
TEST(InternalNodePoolTest, FullPoolEvictsOtherClasses) {
  InternalNodePool pool;
  std::vector<std::shared_ptr<InternalNode>> big;
  for (int i = 0; i < 400; ++i) big.push_back(pool.Make(InternalNodePool::kPooledChildrenMax, 1));
  big.clear();
  EXPECT_LE(pool.cached_bytes(), InternalNodePool::kCachedBytesMax);
  EXPECT_GT(pool.cached_bytes(), InternalNodePool::kCachedBytesMax / 2);
  std::shared_ptr<InternalNode> small = pool.Make(72, 1);
  const InternalNode* raw = small.get();
  small.reset();  // cached although the pool was full
  EXPECT_LE(pool.cached_bytes(), InternalNodePool::kCachedBytesMax);
  EXPECT_EQ(pool.Make(70, 1).get(), raw);
  pool.Clear();
}

// Many small trees: the pool fills with level-1 nodes of one class; a further node of that
// class is deleted (nothing of another class to evict), one of another class evicts them, and
// the per-class accounting follows takes and clears.
TEST(InternalNodePoolTest, FullPoolOfOneClassDropsFurtherNodesOfIt) {
  InternalNodePool pool(64 << 10);
  constexpr size_t kClassOne = InternalNodePool::kSmallChildrenMax + 1;  // (smaller: unpooled)
  std::vector<std::shared_ptr<InternalNode>> nodes;
  for (int i = 0; i < 400; ++i) nodes.push_back(pool.Make(kClassOne, 1));
  nodes.clear();
  const uint64_t full = pool.cached_bytes();
  EXPECT_LE(full, uint64_t{64} << 10);
  EXPECT_GT(full, uint64_t{48} << 10);
  pool.Make(kClassOne, 1).reset();  // taken from the pool and returned: still full
  EXPECT_EQ(pool.cached_bytes(), full);
  std::vector<std::shared_ptr<InternalNode>> more;
  for (int i = 0; i < 200; ++i) more.push_back(pool.Make(kClassOne, 1));  // 200 taken, the rest new
  more.clear();
  EXPECT_EQ(pool.cached_bytes(), full);
  std::shared_ptr<InternalNode> other = pool.Make(40, 1);
  const InternalNode* raw = other.get();
  other.reset();  // evicts class-1 nodes to make room
  EXPECT_LE(pool.cached_bytes(), uint64_t{64} << 10);
  EXPECT_EQ(pool.Make(40, 1).get(), raw);
  pool.Clear();
  EXPECT_EQ(pool.cached_bytes(), 0u);
  pool.Make(kClassOne, 1).reset();  // after Clear the accounting starts over
  EXPECT_GT(pool.cached_bytes(), 0u);
  pool.Clear();
}

TEST(BlockCacheTest, BlocksReusedAndFreedAcrossThreads) {
  void* a = AllocateBlock(100);
  FreeBlock(a, 100);
  void* b = AllocateBlock(112);  // same 16-byte class: the cached block
  EXPECT_EQ(a, b);
  // Freed by another thread: cached there (and released at that thread's exit).
  std::thread t([b] { FreeBlock(b, 112); });
  t.join();
  void* big = AllocateBlock(kBlockBytesMax + 1);  // not cached
  FreeBlock(big, kBlockBytesMax + 1);
  std::vector<std::shared_ptr<LeafBox>> boxes;
  for (int i = 0; i < 1000; ++i) {
    boxes.push_back(std::allocate_shared<LeafBox>(
        CachingAllocator<LeafBox>(),
        std::make_shared<LeafData>(LeafData{{static_cast<uint64_t>(i)}, {1}}), 1, 1));
  }
  std::thread releaser([&boxes] { boxes.clear(); });
  releaser.join();
  EXPECT_TRUE(boxes.empty());
}

}  // namespace
}  // namespace cowtree::tree
