#include "persistence/retained_epochs.h"

#include <algorithm>

#include "persistence/assert.h"

namespace cowtree {

RetainedEpochs::RetainedEpochs(std::vector<uint64_t> epochs, uint64_t version)
    : epochs_(std::move(epochs)), version_(version) {
  std::sort(epochs_.begin(), epochs_.end());
  epochs_.erase(std::unique(epochs_.begin(), epochs_.end()), epochs_.end());
}

bool RetainedEpochs::Sees(uint64_t birth_epoch, uint64_t retire_epoch) const {
  auto it = std::lower_bound(epochs_.begin(), epochs_.end(), birth_epoch);
  return it != epochs_.end() && *it < retire_epoch;
}

void RetainedEpochRegistry::Add(uint64_t epoch) {
  std::lock_guard<std::mutex> g(mu_);
  if (counts_[epoch]++ == 0) ++version_;
}

void RetainedEpochRegistry::Remove(uint64_t epoch) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = counts_.find(epoch);
  COWTREE_ASSERT(it != counts_.end() && it->second > 0);
  if (--it->second == 0) {
    counts_.erase(it);
    ++version_;
  }
}

RetainedEpochs RetainedEpochRegistry::Current() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<uint64_t> epochs;
  epochs.reserve(counts_.size());
  for (const auto& [epoch, count] : counts_) epochs.push_back(epoch);
  return RetainedEpochs(std::move(epochs), version_);
}

RetainedEpochPin::RetainedEpochPin(std::shared_ptr<RetainedEpochRegistry> registry, uint64_t epoch)
    : registry_(std::move(registry)), epoch_(epoch) {
  registry_->Add(epoch_);
}

RetainedEpochPin::RetainedEpochPin(RetainedEpochPin&& o) noexcept
    : registry_(std::move(o.registry_)), epoch_(o.epoch_) {
  o.registry_ = nullptr;
}

RetainedEpochPin& RetainedEpochPin::operator=(RetainedEpochPin&& o) noexcept {
  if (this != &o) {
    Release();
    registry_ = std::move(o.registry_);
    epoch_ = o.epoch_;
    o.registry_ = nullptr;
  }
  return *this;
}

void RetainedEpochPin::Release() {
  if (registry_ != nullptr) registry_->Remove(epoch_);
  registry_ = nullptr;
}

}  // namespace cowtree
