// The order-statistics tree as a Runtime tree type (persistence/hosted_tree.h).
//
// - Type id kOrderStatTreeTypeId (1). Creation params: 8 bytes = key_type u8 (tree/key_codec.h) +
//   7 reserved zero bytes.
// - Ops (the bytes of a commit section for one tree): a sequence of 16-byte records
//   {key_code u64 LE, weight i64 LE}; AppendOrderStatOp builds them. At apply time ops are sorted
//   by key and duplicates summed exactly (in any order); a key whose summed delta is outside int64
//   → InvalidArgument, tree unchanged; zero sums are dropped (tree/order_stat_ops.h: a section
//   already sorted with unique keys and no zero weight is taken as is, without a sort). Each op adds `weight` to the
//   entry `key` (insert/update/delete at 0). Limits (InvalidArgument naming the key code or N,
//   and the limit, before any state changes): an entry's weight stays within int64, the
//   tree's N (total positive weight) within 2^64 - 1 (tree/apply.h).
// - Checkpoint: a tree of no leaf, or of one leaf whose body (tree/node_format.h) is at most
//   kCatalogInlineBytesMax, is stored INLINE in its catalog entry (the leaf body, or nothing):
//   no object. Otherwise dirty leaves (boxes without a persisted NodeID) are written once each,
//   then the chunks of the multi-level summary index that changed, every level
//   (tree/summary_index.h WriteSummaryIndex), then a descriptor. docs/catalog.md "Inline
//   trees", docs/summary_chunk.md.
// - Load: the summary index is read top-down, each chunk checked against its parent
//   (tree/summary_index.h ReadSummaryIndex); internal levels are rebuilt from the summaries
//   with this runtime's fan-out, without reading a leaf; leaves load on first access through
//   ObjectStore::ReadObject. An inline tree is rebuilt from its leaf body (its one leaf stays
//   resident and dirty: it has no object).
// - Readers: OrderStatTreeHost::VersionAt(snapshot epoch) gives the immutable version a snapshot
// sees;
//   the query functions of tree/order_stat_tree.h run on it (thread-safe, lock-free after the
//   lookup).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "persistence/hosted_tree.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree.h"
#include "tree/summary_index.h"

namespace cowtree::tree {

inline constexpr uint8_t kOrderStatTreeTypeId = 1;
inline constexpr size_t kOrderStatOpBytes = 16;
inline constexpr size_t kOrderStatParamsBytes = 8;
// Memory a loaded tree keeps per leaf whatever is resident, charged to the runtime's budget as
// fixed bytes (docs/memory_budget.md): the leaf box with its control block (a 96-byte block,
// 112 B with malloc's header), its persisted summary (32 B in a vector with slack), its
// object-table slot (48 B) and its CLOCK ring slot (16 B, up to 1.5 per leaf between ring
// compactions). Internal nodes are not in it: their pool charges their exact bytes (node
// bytes). tests/recovery_budget_accounting_test.cc measures the heap per leaf of a restored
// tree against it.
inline constexpr int64_t kFixedBytesPerLeaf = 256;

std::string OrderStatTreeParams(KeyType key_type);
// The key type of an order-statistics tree from its catalog type id and params (no restore);
// nullopt for another tree type or params that do not name a key type.
std::optional<KeyType> OrderStatKeyTypeOf(uint8_t type_id, std::string_view params);
inline void AppendOrderStatOp(std::string* ops, uint64_t key_code, int64_t weight);
Status ValidateShape(uint32_t leaf_capacity_entries, uint32_t fanout,
                     uint32_t leaf_capacity_bytes = 0);
// index_limits: chunk sizes of the summary index written at checkpoints (internal; tests lower
// them to reach several index levels with few leaves). Asserted valid
// (SummaryIndexLimits::Validate; recovery::Open checks the options first).
// shape: as TreeShape (tree/tree_shape.h), asserted valid.
std::unique_ptr<TreeType> MakeOrderStatTreeType(TreeShape shape,
                                                SummaryIndexLimits index_limits = {});

// The HostedTree of the order-statistics tree type; obtain it from TreeInfo::tree with
// AsOrderStatTree().
class OrderStatTreeHost;
OrderStatTreeHost* AsOrderStatTree(HostedTree* tree);

class OrderStatTreeHost final : public HostedTree, public LeafLoader {
 public:
  OrderStatTreeHost(KeyType key_type, TreeShape shape, TreeEnvironment* env,
                    SummaryIndexLimits index_limits = {});
  const SummaryIndexLimits& index_limits() const { return index_limits_; }
  ~OrderStatTreeHost() override;

  KeyType key_type() const { return key_type_; }
  // The newest version with epoch <= `epoch` (a snapshot's epoch). Never null.
  std::shared_ptr<const TreeVersion> VersionAt(uint64_t epoch) const;
  // Versions kept for readers (ReleaseOldVersions keeps those some readable epoch needs).
  size_t version_count() const;

  // HostedTree
  Status Apply(std::string_view ops, uint64_t epoch) override;
  void UndoLastApply() override;
  void FinishApply() override { before_last_apply_ = nullptr; }
  std::unique_ptr<FrozenTree> Freeze(uint64_t checkpoint_epoch) override;
  std::vector<NodeID> PersistedObjects() const override;
  uint64_t EvictClean() override;
  void ReleaseOldVersions() override { TrimVersions(); }
  bool KeepsOnlyNewestVersion() const override;
  uint64_t entry_count() const override;
  uint64_t leaf_count() const override;

  // LeafLoader
  Result<std::shared_ptr<const LeafData>> LoadLeaf(NodeID id) override;
  MemoryBudget* memory_budget() const override { return budget_.get(); }
  uint64_t leaf_loads() const { return leaf_loads_.load(); }

  // Recovery: installs the checkpointed version and its persisted chunk list.
  // version null: never checkpointed. descriptor invalid (version set): stored inline.
  struct PersistedState {
    NodeID descriptor;
    PersistedIndex index;  // the summary index's chunks, every level
    std::shared_ptr<const TreeVersion> version;
  };
  void InstallRecovered(PersistedState state);
  void SetPublished(PersistedState state);  // called by the frozen tree after the superblock
  const PersistedState& published() const { return published_; }
  OrderStatTree& tree() { return tree_; }

 private:
  void TrimVersions();
  // Charges the budget's fixed bytes for the current version's leaf count (writer lock).
  void UpdateFixedCharge();
  KeyType key_type_;
  TreeShape shape_;
  SummaryIndexLimits index_limits_;
  TreeEnvironment* env_;
  std::shared_ptr<MemoryBudget> budget_;  // before tree_: boxes uncharge it when destroyed
  int64_t fixed_charged_bytes_ = 0;       // writer lock
  OrderStatTree tree_;
  mutable std::mutex versions_mu_;
  std::vector<std::pair<uint64_t, std::shared_ptr<const TreeVersion>>> versions_;  // by epoch
  std::shared_ptr<const TreeVersion> before_last_apply_;                           // writer lock
  uint64_t last_apply_epoch_ = 0;         // writer lock: epoch of the last successful Apply
  uint64_t epoch_before_last_apply_ = 0;  // writer lock: restored by UndoLastApply
  PersistedState published_;              // checkpoint lock / writer lock
  std::atomic<uint64_t> leaf_loads_{0};
  std::vector<KeyWeight> scratch_;  // writer lock
};

inline void AppendOrderStatOp(std::string* ops, uint64_t key_code, int64_t weight) {
  char b[kOrderStatOpBytes];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((key_code >> (8 * i)) & 0xff);
  const uint64_t w = static_cast<uint64_t>(weight);
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<char>((w >> (8 * i)) & 0xff);
  ops->append(b, kOrderStatOpBytes);
}

}  // namespace cowtree::tree
