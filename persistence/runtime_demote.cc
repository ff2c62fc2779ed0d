// Runtime, demotion (persistence/runtime.h "Demotion"): after a published checkpoint, and every
// options_.demotion_pass_promotions promotions (DemoteIfManyPromoted: trees that are only
// read), hot trees that stayed idle since the previous pass go back to the cold index, so that
// the memory of a runtime with many trees follows the trees in use, not every tree ever touched.
// One pass is a CLOCK sweep over trees_: a tree accessed since the last pass (TreeSlot::accessed)
// gets a second chance (its bit is cleared); an idle one that is safe to drop is demoted, while
// more than hot_trees_min trees are hot or, under a limited budget, while its fixed and node
// bytes pass half of it (BudgetPinnedExcessBytes).
#include <algorithm>

#include "persistence/assert.h"
#include "persistence/runtime.h"

namespace cowtree {

// Safe to drop: everything the tree holds can be read back from the published catalog as is.
bool Runtime::Demotable(const TreeSlot& slot, const std::vector<TreeId>& dirty) const {
  // Live, and listed by the published catalog with its current state: no commit created,
  // wrote or dropped it since the freeze (dirty), and a published checkpoint lists it.
  if (!slot.published || slot.drop_epoch != UINT64_MAX || slot.drop_published) return false;
  if (std::binary_search(dirty.begin(), dirty.end(), slot.id)) return false;
  // The head of its name with nothing older behind it (older slots serve old snapshots).
  if (slot.older_same_name != nullptr) return false;
  if (ChunkOf(slot.id) == nullptr) return false;  // (a published tree is in some chunk)
  // One version: no snapshot can ask for a state the published one does not have.
  if (slot.restored.load(std::memory_order_acquire) && !slot.tree->KeepsOnlyNewestVersion()) {
    return false;
  }
  return true;
}

bool Runtime::DemotionPassDue(uint64_t promotions) const {
  const uint64_t step = options_.demotion_pass_promotions;
  if (step == 0) return false;  // passes only after checkpoints
  if (promotions >= step) return true;
  return promotions >= kBudgetDemotionPassPromotions && BudgetPinnedExcessBytes() > 0;
}

void Runtime::DemoteIfManyPromoted(bool wait) {
  if (!DemotionPassDue(promotions_since_pass_.load(std::memory_order_relaxed))) return;
  // A poisoned runtime keeps what it holds: reading a demoted tree back could fail as well.
  if (poisoned_.load()) return;
  if (wait) {
    checkpoint_mu_.Lock();
  } else if (!checkpoint_mu_.TryLock()) {
    return;
  }
  // Again under the lock: another thread's pass may have run meanwhile (and reset the count).
  if (DemotionPassDue(promotions_since_pass_.load(std::memory_order_relaxed))) {
    ReleaseOldVersionsOfAllTrees();  // as after a checkpoint: trees that keep one version only
    DemoteIdleTrees();
  }
  checkpoint_mu_.Unlock();
}

uint64_t Runtime::BudgetPinnedExcessBytes() const {
  if (budget_ == nullptr || !budget_->limited()) return 0;
  const MemoryBudgetStats m = budget_->stats();
  const uint64_t pinned = static_cast<uint64_t>(std::max<int64_t>(0, m.fixed_bytes + m.node_bytes));
  const uint64_t half = budget_->budget_bytes() / 2;
  return pinned > half ? pinned - half : 0;
}

uint64_t Runtime::DemotionPasses() const {
  ReaderLock g(&catalog_mu_);
  return demotion_passes_;
}

void Runtime::DemoteIdleTrees() {
  std::vector<std::shared_ptr<TreeSlot>> demoted;  // freed after the locks are released
  {
    MutexLock w(&write_mu_);  // no commit promotes, creates or writes a tree meanwhile
    std::vector<TreeId> dirty = dirty_trees_;
    std::sort(dirty.begin(), dirty.end());
    WriterLock g(&catalog_mu_);
    size_t hot = trees_.size();
    demotion_sweeps_.fetch_add(1);
    promotions_since_pass_.store(0, std::memory_order_relaxed);
    // Under a budget, idle trees also go while the bytes eviction cannot free pass half of it,
    // however few trees are hot: a tree's leaf boxes and nodes stay in memory while it is hot
    // (docs/catalog.md "Demotion under a memory budget").
    uint64_t excess_bytes = BudgetPinnedExcessBytes();
    if (hot <= options_.hot_trees_min && excess_bytes == 0) return;  // bits stay set: no pass
    for (auto it = trees_.begin();
         it != trees_.end() && (hot > options_.hot_trees_min || excess_bytes > 0);) {
      TreeSlot& slot = *it->second;
      // Leaves in memory (a tree not restored yet has none).
      const uint64_t leaves =
          slot.restored.load(std::memory_order_acquire) ? slot.tree->leaf_count() : 0;
      // Below hot_trees_min only trees whose leaves are in memory go: the others free nothing.
      const bool wanted = hot > options_.hot_trees_min || leaves > 0;
      if (slot.accessed.exchange(false, std::memory_order_relaxed) || !wanted ||
          !Demotable(slot, dirty)) {
        ++it;
        continue;
      }
      excess_bytes -= std::min(excess_bytes, leaves * kPinnedBytesPerLeafEstimate);
      auto name = names_.find(slot.name);
      COWTREE_ASSERT(name != names_.end() && name->second == &slot);  // head of its name
      names_.erase(name);
      const uint32_t hash = ColdTreeIndex::NameHash(slot.name);
      COWTREE_ASSERT(!cold_.Contains(slot.id, hash));  // a tree is hot or cold, never both
      cold_.Insert(slot.id, hash);
      demoted.push_back(std::move(it->second));
      it = trees_.erase(it);
      --hot;
    }
    if (!demoted.empty()) {
      ++catalog_generation_;  // promotions in flight read their entry again
      ++demotion_passes_;     // listings in flight walk again
    }
    COWTREE_ASSERT(trees_.size() == hot);
  }
  trees_demoted_.fetch_add(demoted.size(), std::memory_order_relaxed);
}

}  // namespace cowtree
