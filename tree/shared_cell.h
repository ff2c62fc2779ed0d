// SharedCell<T>: one std::shared_ptr<T> that many threads may load, store and exchange.
//
// Why not std::atomic<std::shared_ptr<T>>: libstdc++ 12 implements it with a lock bit whose
// unlock after load() is a relaxed store, so a load's read of the pointer is not ordered
// before a later store's write (ThreadSanitizer reports it as a data race). A SharedCell
// guards the pointer with one mutex from a small striped pool (256 cache-line-aligned
// mutexes chosen by the cell's address), which costs one uncontended lock per access and no
// memory per cell beyond the shared_ptr itself.
// Contract: Load/Store/Exchange/StoreIfEmpty are linearizable; objects released by Store and
// Exchange are destroyed outside the lock. Thread-safety: all methods, from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace cowtree::tree {

// The mutex guarding the cell at `address` (shared by cells whose addresses hash alike).
std::mutex& SharedCellLock(const void* address);

template <typename T>
class SharedCell {
 public:
  SharedCell() = default;
  explicit SharedCell(std::shared_ptr<T> v) : value_(std::move(v)) {}
  SharedCell(const SharedCell&) = delete;
  SharedCell& operator=(const SharedCell&) = delete;

  std::shared_ptr<T> Load() const {
    std::lock_guard<std::mutex> g(SharedCellLock(this));
    return value_;
  }
  void Store(std::shared_ptr<T> v) { Exchange(std::move(v)); }
  // Stores v and returns the previous value.
  std::shared_ptr<T> Exchange(std::shared_ptr<T> v) {
    {
      std::lock_guard<std::mutex> g(SharedCellLock(this));
      value_.swap(v);
    }
    return v;
  }
  // Stores v only if the cell is empty; returns the value the cell holds afterwards.
  std::shared_ptr<T> StoreIfEmpty(std::shared_ptr<T> v) {
    std::lock_guard<std::mutex> g(SharedCellLock(this));
    if (value_ == nullptr) value_ = std::move(v);
    return value_;
  }

 private:
  std::shared_ptr<T> value_;
};

}  // namespace cowtree::tree
