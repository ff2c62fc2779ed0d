// TreeType::InlineBodyOfNewTree, the fast path for trees a commit creates small (docs/catalog.md
// "Trees created inline"), against the path it stands in for: Create + Apply + Freeze + Write
// of the same ops. For random op sets (duplicates, cancelling ops, negative and huge weights,
// non-canonical double keys, bodies past the inline limit, more entries than a leaf holds) the
// fast path must give the very bytes the checkpoint stores inline, or decline (nullopt) when
// the slow path stores objects or refuses the ops; and Load of its bytes must give that tree.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "persistence/catalog_format.h"
#include "persistence/object_store.h"
#include "testutil/test_files.h"
#include "tree/key_codec.h"
#include "tree/node_format.h"
#include "tree/order_stat_ops.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::tree {
namespace {

constexpr uint32_t kLeaf = 252;  // the default shape: bodies of 252 entries can pass 4096 bytes

class StoreEnvironment : public TreeEnvironment {
 public:
  explicit StoreEnvironment(ObjectStore* store) : store_(store) {}
  ObjectStore* object_store() override { return store_; }
  uint64_t OldestReadableEpoch() const override { return UINT64_MAX; }

 private:
  ObjectStore* store_;
};

struct Case {
  KeyType key_type = KeyType::kInt64;
  std::vector<KeyWeight> ops;
};

// Op counts around the leaf capacity and the inline limit; keys dense (duplicates, cancelling
// ops) or spread over 64 bits (10-byte gaps); weights unit, small of both signs (0 included),
// or near int64's limits (sums that overflow); for double trees, now and then a raw code
// (most are not canonical).
Case RandomCase(std::mt19937_64* rng) {
  Case c;
  c.key_type = (*rng)() % 4 == 0 ? KeyType::kDouble : KeyType::kInt64;
  const int shape = static_cast<int>((*rng)() % 6);
  const size_t n = shape == 0 ? 0 : shape <= 2 ? 1 + (*rng)() % 12 : 150 + (*rng)() % 120;
  const bool dense = (*rng)() % 2 == 0;
  const int weights = static_cast<int>((*rng)() % 8);
  for (size_t i = 0; i < n; ++i) {
    uint64_t key = 0;
    if (c.key_type == KeyType::kDouble) {
      key = (*rng)() % 50 == 0 ? (*rng)()
                               : EncodeDoubleKey(dense ? static_cast<double>((*rng)() % 64)
                                                       : std::ldexp(double((*rng)() % 1000), 40));
    } else {
      key = dense ? EncodeInt64Key(static_cast<int64_t>((*rng)() % 64)) : (*rng)();
    }
    int64_t w = 1;
    if (weights == 5) w = static_cast<int64_t>((*rng)() % 7) - 3;
    if (weights == 6) w = std::numeric_limits<int64_t>::max() - static_cast<int64_t>((*rng)() % 3);
    if (weights == 7) w = static_cast<int64_t>((*rng)() >> 1) * ((*rng)() % 2 == 0 ? 1 : -1);
    c.ops.push_back(KeyWeight{key, w});
  }
  return c;
}

// Counts of the outcomes of InlineCreateTest::RunRandomCases.
struct Outcomes {
  int equal = 0, empty = 0, declined_objects = 0, declined_error = 0, declined_many_ops = 0;
};

void Print(const Outcomes& o) {
  std::printf("inline %d empty %d objects %d error %d many_ops %d\n", o.equal, o.empty,
              o.declined_objects, o.declined_error, o.declined_many_ops);
}

class InlineCreateTest : public ::testing::Test {
 protected:
  InlineCreateTest() : type_(MakeOrderStatTreeType(TreeShape{kLeaf, 64})) {
    ObjectStoreOptions o;
    o.allocator.store_id = ExampleStoreId();
    auto store = ObjectStore::Open(Env::Default(), dir_.path(), o, {}, nullptr);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (store.ok()) store_ = std::move(store).value();
    env_ = std::make_unique<StoreEnvironment>(store_.get());
  }

  // The slow path: the inline body the checkpoint of a new tree with `ops` stores (nullopt:
  // it stores objects), or Apply's error.
  Result<std::optional<std::string>> SlowPath(const std::string& params, const std::string& ops,
                                              uint64_t* entry_count) {
    COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<HostedTree> host, type_->Create(params, env_.get()));
    COWTREE_RETURN_IF_ERROR(host->Apply(ops, 1));
    *entry_count = host->entry_count();
    std::unique_ptr<FrozenTree> frozen = host->Freeze(1);
    EXPECT_NE(frozen, nullptr);  // a new tree always has something to write
    if (frozen == nullptr) return Status::NotSupported("no frozen tree");
    COWTREE_ASSIGN_OR_RETURN(TreeCheckpointResult r, frozen->Write(store_.get(), 1));
    if (!r.persisted.is_inline()) return std::optional<std::string>();
    return std::optional<std::string>(r.persisted.inline_body);
  }

  // 3000 random new trees through both paths: the fast path's body is the slow path's, or the
  // fast path declines where it may. Fatal failures return early (check HasFatalFailure).
  void RunRandomCases(Outcomes* out) {
    std::mt19937_64 rng(2026);
    Outcomes o;
    for (int iter = 0; iter < 3000; ++iter) {
      const Case c = RandomCase(&rng);
      const std::string params = OrderStatTreeParams(c.key_type);
      std::string ops;
      for (const KeyWeight& op : c.ops) AppendOrderStatOp(&ops, op.key, op.weight);
      const std::optional<std::string> fast = type_->InlineBodyOfNewTree(params, ops);
      uint64_t entries = 0;
      Result<std::optional<std::string>> slow = SlowPath(params, ops, &entries);
      if (!slow.ok()) {
        ASSERT_TRUE(slow.status().IsInvalidArgument()) << slow.status().ToString();
        ASSERT_FALSE(fast.has_value())
            << "iter " << iter << ": the fast path took ops Apply refuses ("
            << slow.status().ToString() << ")";
        ++o.declined_error;
        continue;
      }
      if (!slow->has_value()) {
        ASSERT_FALSE(fast.has_value()) << "iter " << iter << ": inline where the checkpoint writes "
                                       << entries << " entries as objects";
        ++o.declined_objects;
        continue;
      }
      if (!fast.has_value()) {
        // Declining is allowed only for more raw ops than a leaf holds (summed away here).
        ASSERT_GT(c.ops.size(), leaf_entries_) << "iter " << iter << ": declined an inline tree";
        ++o.declined_many_ops;
        continue;
      }
      ASSERT_EQ(*fast, **slow) << "iter " << iter;
      ASSERT_LE(fast->size(), kCatalogInlineBytesMax);
      (fast->empty() ? o.empty : o.equal) += 1;
      // Load of the fast path's bytes gives the tree Apply built.
      PersistedTreeRef ref;
      ref.inline_body = *fast;
      auto loaded = type_->Load(params, ref, 1, env_.get());
      ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
      EXPECT_EQ((*loaded)->entry_count(), entries);
    }
    *out = o;
  }
  // The type under test, with `shape`.
  void UseShape(TreeShape shape) {
    type_ = MakeOrderStatTreeType(shape);
    leaf_entries_ = shape.leaf_capacity_entries;
  }

  testutil::TempDir dir_;
  std::unique_ptr<TreeType> type_;
  uint32_t leaf_entries_ = kLeaf;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<StoreEnvironment> env_;
};

TEST_F(InlineCreateTest, SameBytesAsTheCheckpointOrDeclines) {
  ASSERT_NE(store_, nullptr);
  Outcomes o;
  RunRandomCases(&o);
  if (HasFatalFailure()) return;
  // Every branch was taken (the generator's mix, fixed seed).
  Print(o);
  EXPECT_GT(o.equal, 500);
  EXPECT_GT(o.empty, 100);
  EXPECT_GT(o.declined_objects, 20);
  EXPECT_GT(o.declined_error, 50);
  EXPECT_GT(o.declined_many_ops, 0);
}

// Leaves split by bytes at 1024, under the catalog's inline limit: a new tree whose one leaf
// would pass 1024 bytes is two leaves for Apply, so the fast path must decline it too.
TEST_F(InlineCreateTest, SameBytesOrDeclinesWithLeavesSplitByBytes) {
  ASSERT_NE(store_, nullptr);
  UseShape(TreeShape{kLeaf, 64, 1024});
  Outcomes o;
  RunRandomCases(&o);
  if (HasFatalFailure()) return;
  Print(o);
  EXPECT_GT(o.equal, 200);
  EXPECT_GT(o.declined_objects, 100);
}

TEST_F(InlineCreateTest, EdgeCases) {
  const std::string params = OrderStatTreeParams(KeyType::kInt64);
  // No ops, and ops that cancel out: the empty tree's body (no bytes).
  EXPECT_EQ(type_->InlineBodyOfNewTree(params, ""), std::optional<std::string>(""));
  std::string ops;
  AppendOrderStatOp(&ops, EncodeInt64Key(5), 2);
  AppendOrderStatOp(&ops, EncodeInt64Key(5), -2);
  EXPECT_EQ(type_->InlineBodyOfNewTree(params, ops), std::optional<std::string>(""));
  // A truncated op: declined (Apply reports it).
  EXPECT_FALSE(type_->InlineBodyOfNewTree(params, ops.substr(0, 20)).has_value());
  // One entry: the leaf body of that entry.
  ops.clear();
  AppendOrderStatOp(&ops, EncodeInt64Key(-7), 3);
  LeafData leaf;
  leaf.keys = {EncodeInt64Key(-7)};
  leaf.weights = {3};
  EXPECT_EQ(type_->InlineBodyOfNewTree(params, ops), EncodeLeaf(KeyType::kInt64, leaf));
  // A leaf's worth of entries fits; one more does not (the slow path splits it).
  ops.clear();
  for (uint32_t i = 0; i <= kLeaf; ++i) AppendOrderStatOp(&ops, EncodeInt64Key(i), 1);
  EXPECT_FALSE(type_->InlineBodyOfNewTree(params, ops).has_value());
  ops.resize(kLeaf * kOrderStatOpBytes);
  EXPECT_TRUE(type_->InlineBodyOfNewTree(params, ops).has_value());
}

}  // namespace
}  // namespace cowtree::tree
