#include "tree/leaf.h"

#include <string>
#include <thread>
#include <utility>

#include "persistence/assert.h"

namespace cowtree::tree {

// Every loaded leaf has a box (docs/memory_budget.md, fixed bytes per leaf): with the 16-byte
// control block of allocate_shared, one 112-byte block.
static_assert(sizeof(LeafBox) <= 88);

namespace {

bool AllUnitWeights(const LeafData& data) {
  if (data.implicit_unit_weights()) return true;
  bool unit = true;
  for (int64_t w : data.weights) unit &= w == 1;
  return unit;
}

}  // namespace

bool LeafPositiveSum(const LeafData& data, uint64_t* pos_sum) {
  // Each positive weight is < 2^63, so summing in 128 bits cannot overflow for any leaf.
  unsigned __int128 sum = 0;
  if (data.implicit_unit_weights()) sum = data.keys.size();
  for (int64_t w : data.weights) sum += static_cast<uint64_t>(w > 0 ? w : 0);
  if (sum > UINT64_MAX) return false;
  *pos_sum = static_cast<uint64_t>(sum);
  return true;
}

Status ValidateLeafData(const LeafData& data) {
  if (!data.implicit_unit_weights() && data.keys.size() != data.weights.size()) {
    return Status::Corruption("leaf: " + std::to_string(data.keys.size()) + " keys but " +
                              std::to_string(data.weights.size()) + " weights");
  }
  if (data.keys.empty()) return Status::Corruption("leaf: no entries (expected at least 1)");
  for (size_t i = 0; i < data.keys.size(); ++i) {
    if (i > 0 && data.keys[i] <= data.keys[i - 1]) {
      return Status::Corruption(
          "leaf: key " + std::to_string(i) + " (code " + std::to_string(data.keys[i]) +
          ") is not greater than the previous key (code " + std::to_string(data.keys[i - 1]) + ")");
    }
    if (data.weight(i) == 0) {
      return Status::Corruption("leaf: weight " + std::to_string(i) + " is 0 (expected != 0)");
    }
  }
  uint64_t pos_sum;
  if (!LeafPositiveSum(data, &pos_sum)) {
    return Status::Corruption("leaf: positive weight sum exceeds 2^64-1");
  }
  return Status::OK();
}

LeafBox::LeafBox(std::shared_ptr<const LeafData> data, uint64_t pos_sum, uint64_t epoch,
                 MemoryBudget* budget, WeightsHint weights)
    : entry_count_(data != nullptr ? data->entry_count() : 0),
      first_key_(data != nullptr && !data->keys.empty() ? data->keys[0] : 0),
      pos_sum_(pos_sum),
      epoch_(epoch),
      budget_(budget) {
  COWTREE_ASSERT(data != nullptr);
  COWTREE_ASSERT(!data->keys.empty());
  COWTREE_ASSERT(data->implicit_unit_weights() || data->keys.size() == data->weights.size());
#ifndef NDEBUG
  COWTREE_ASSERT(ValidateLeafData(*data).ok());
  uint64_t check = 0;
  COWTREE_ASSERT(LeafPositiveSum(*data, &check) && check == pos_sum);
#endif
  COWTREE_DASSERT(weights == WeightsHint::kUnknown ||
                  (weights == WeightsHint::kAllUnit) == AllUnitWeights(*data));
  if (budget_ != nullptr) budget_->Charge(data->size_bytes(), /*dirty=*/true);
  if (weights == WeightsHint::kUnknown) {
    NoteWeightKind(*data);
  } else {
    weight_kind_.store(weights == WeightsHint::kAllUnit ? kUnitWeights : kOtherWeights,
                       std::memory_order_relaxed);  // published with the box itself
  }
  data_.Exchange(std::move(data));
}

void LeafBox::NoteWeightKind(const LeafData& data) const {
  if (weight_kind_.load(std::memory_order_relaxed) != kWeightsUnknown) return;
  // Release: a reader that sees the kind may rely on it for this box's content (immutable).
  weight_kind_.store(AllUnitWeights(data) ? kUnitWeights : kOtherWeights,
                     std::memory_order_release);
}

LeafBox::LeafBox(uint64_t first_key, uint64_t pos_sum, uint32_t entry_count, NodeID id,
                 uint64_t epoch, MemoryBudget* budget)
    : entry_count_(entry_count),
      first_key_(first_key),
      pos_sum_(pos_sum),
      epoch_(epoch),
      budget_(budget) {
  COWTREE_ASSERT(id.valid());
  COWTREE_ASSERT(entry_count >= 1);
  persisted_raw_.store(id.raw(), std::memory_order_release);
}

LeafBox::~LeafBox() {
  if (budget_ == nullptr) return;
  // The last owner is gone, so nothing loads, evicts or pins this box any more (a budget ring
  // entry is a weak_ptr that can no longer be locked): the pointer mirror is the content,
  // read without the cell's lock or a reference-count round trip on its control block.
  const LeafData* data = data_.RawData();
  if (data != nullptr) budget_->Uncharge(data->size_bytes(), /*dirty=*/!persisted());
}

void LeafBox::MarkPersisted(const std::shared_ptr<LeafBox>& box, NodeID id) {
  COWTREE_ASSERT(box != nullptr && id.valid());
  // Only the checkpointer calls this (one at a time); EvictClean never changes persisted_raw_.
  const uint64_t already = box->persisted_raw_.load(std::memory_order_acquire);
  if (already != 0) {
    COWTREE_ASSERT(already == id.raw());  // persisted once, under one id
    return;
  }
  // Still dirty, so resident: EvictClean refuses a box that is not persisted. The content must be
  // read and its bytes moved from dirty to clean *before* the id is published: from that moment a
  // concurrent EvictClean (Runtime::EvictClean walks current versions while a checkpoint runs)
  // may drop the content and uncharge it as clean.
  const LeafData* const data = box->DirtyContent();
  if (box->budget_ != nullptr) box->budget_->MoveDirtyToClean(data->size_bytes());
  uint64_t expected = 0;
  const bool published =
      box->persisted_raw_.compare_exchange_strong(expected, id.raw(), std::memory_order_acq_rel);
  COWTREE_ASSERT(published);  // single caller: nobody else publishes an id
  if (box->budget_ != nullptr) RegisterClean(box);
}

void LeafBox::RegisterClean(const std::shared_ptr<LeafBox>& box) {
  box->budget_->AddClean(std::weak_ptr<Evictable>(box));
}

Result<std::shared_ptr<const LeafData>> LeafBox::Load(const std::shared_ptr<LeafBox>& box,
                                                      LeafLoader* loader) {
  COWTREE_ASSERT(box != nullptr);
  return box->LoadImpl(box, loader);
}

Result<std::shared_ptr<const LeafData>> LeafBox::LoadImpl(const std::shared_ptr<LeafBox>& self,
                                                          LeafLoader* loader) const {
  std::shared_ptr<const LeafData> data = data_.Load();
  if (data != nullptr) {
    MarkReferenced();
    return data;
  }
  const NodeID id = persisted_id();
  if (!id.valid()) {
    // Detached from its object (DetachFromObject) since the content was read as absent: a box
    // that is not persisted is resident for good.
    return ResidentIfDetached();
  }
  // Built only on an error path: a load under a small budget is on every commit's path.
  const auto where = [id] { return "leaf " + std::to_string(id.raw()); };
  if (loader == nullptr) {
    return Status::InvalidArgument(where() + " is not resident and the tree has no LeafLoader");
  }
  // A load that fails because the box was detached meanwhile, its object retired and freed by
  // the same checkpoint (NotFound, or Corruption once the slot is reused: the envelope names
  // another object), answers from the content the detach made resident (found by an
  // adversarial run: readers racing an inline checkpoint).
  Result<std::shared_ptr<const LeafData>> loaded = loader->LoadLeaf(id);
  if (!loaded.ok()) {
    if (std::shared_ptr<const LeafData> resident = ResidentIfDetached()) return resident;
    return loaded.status().WithContext(where());
  }
  data = std::move(loaded).value();
  if (data == nullptr) return Status::Corruption(where() + ": loader returned no data");
  if (Status st = ValidateLeafData(*data); !st.ok()) {
    if (std::shared_ptr<const LeafData> resident = ResidentIfDetached()) return resident;
    return st.WithContext(where());
  }
  uint64_t pos_sum = 0;
  LeafPositiveSum(*data, &pos_sum);  // cannot fail after ValidateLeafData
  if (data->entry_count() != entry_count_ || data->keys[0] != first_key_ || pos_sum != pos_sum_) {
    if (std::shared_ptr<const LeafData> resident = ResidentIfDetached()) return resident;
    return Status::Corruption(
        where() + ": content does not match its summary (expected entry_count " +
        std::to_string(entry_count_) + ", first_key " + std::to_string(first_key_) + ", pos_sum " +
        std::to_string(pos_sum_) + "; found " + std::to_string(data->entry_count()) + ", " +
        std::to_string(data->keys[0]) + ", " + std::to_string(pos_sum) + ")");
  }
  NoteWeightKind(*data);  // before the content is published: a pin that sees it sees the kind
  // A concurrent load may have stored its copy first: everyone shares the first one. Only the
  // load whose copy was stored charges the budget.
  std::shared_ptr<const LeafData> stored = data_.StoreIfEmpty(data);
  if (budget_ != nullptr && stored == data) {
    MarkReferenced();  // a second chance before the hand reaches it (it is being read now)
    budget_->Charge(data->size_bytes(), /*dirty=*/false);
    RegisterClean(self);
  }
  return stored;
}

std::shared_ptr<const LeafData> LeafBox::ResidentIfDetached() const {
  if (persisted()) return nullptr;
  std::shared_ptr<const LeafData> resident = data_.Load();
  COWTREE_ASSERT(resident != nullptr);  // a box that is not persisted is resident
  return resident;
}

void LeafBox::DetachFromObject(const std::shared_ptr<LeafBox>& box,
                               std::shared_ptr<const LeafData> data) {
  COWTREE_ASSERT(box != nullptr && data != nullptr);
  COWTREE_ASSERT(data->entry_count() == box->entry_count_ && data->keys[0] == box->first_key_);
  if (!box->persisted()) return;  // dirty: resident for good already
  bool stored = false;
  uint64_t bytes = 0;
  // Under the cell's lock, as EvictClean's check and clear: an eviction either happened before
  // (then `data` is stored) or sees the box dirty and refuses.
  box->data_.StoreIfEmptyThen(std::move(data), [&](bool stored_data, const LeafData& content) {
    stored = stored_data;
    bytes = content.size_bytes();
    box->persisted_raw_.store(0, std::memory_order_seq_cst);
  });
  if (box->budget_ == nullptr) return;
  if (stored) {
    box->budget_->Charge(bytes, /*dirty=*/true);
  } else {
    box->budget_->MoveCleanToDirty(bytes);
  }
}

uint64_t LeafBox::EvictClean() {
  if (!persisted()) return 0;
  // Clears the mirror (seq_cst); the check is repeated under the cell's lock (DetachFromObject).
  std::shared_ptr<const LeafData> old = data_.ClearIf([this] { return persisted(); });
  if (old == nullptr) return 0;
  // A ReadPin taken before the mirror was cleared may still read `old`: wait it out. Pins taken
  // since see null or a later content, so this only waits for short reads in progress.
  for (int spins = 0; pins_.load(std::memory_order_seq_cst) != 0; ++spins) {
    if (spins >= 64) std::this_thread::yield();
  }
  const uint64_t bytes = old->size_bytes();
  if (budget_ != nullptr) budget_->Uncharge(bytes, /*dirty=*/false);
  return bytes;
}

}  // namespace cowtree::tree
