// Runtime, demotion (persistence/runtime.h "Demotion"): after a published checkpoint, and every
// options_.demotion_pass_promotions promotions (DemoteIfManyPromoted: trees that are only
// read), hot trees that stayed idle since the previous pass go back to the cold index, so that
// the memory of a runtime with many trees follows the trees in use, not every tree ever touched.
// One pass is a CLOCK sweep over trees_: a tree accessed since the last pass (TreeSlot::accessed)
// gets a second chance (its bit is cleared); an idle one that is safe to drop is demoted.
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

void Runtime::DemoteIfManyPromoted(bool wait) {
  const uint64_t step = options_.demotion_pass_promotions;
  if (step == 0 || promotions_since_pass_.load(std::memory_order_relaxed) < step) return;
  // A poisoned runtime keeps what it holds: reading a demoted tree back could fail as well.
  if (poisoned_.load()) return;
  if (wait) {
    checkpoint_mu_.Lock();
  } else if (!checkpoint_mu_.TryLock()) {
    return;
  }
  // Again under the lock: another thread's pass may have run meanwhile (and reset the count).
  if (promotions_since_pass_.load(std::memory_order_relaxed) >= step) {
    ReleaseOldVersionsOfAllTrees();  // as after a checkpoint: trees that keep one version only
    DemoteIdleTrees();
  }
  checkpoint_mu_.Unlock();
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
    if (hot <= options_.hot_trees_min) return;  // bits stay set: no pass, no second chance used
    for (auto it = trees_.begin(); it != trees_.end() && hot > options_.hot_trees_min;) {
      TreeSlot& slot = *it->second;
      if (slot.accessed.exchange(false, std::memory_order_relaxed) || !Demotable(slot, dirty)) {
        ++it;
        continue;
      }
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
