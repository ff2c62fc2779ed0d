// ZeroedArray<T>: a fixed-size, zero-filled array of a trivially copyable T for large tables
// that are filled in random order (the cold tree index: 32 MiB at a million trees). The memory
// comes zeroed from the kernel (no fill pass over it), and from 2 MiB up it is an anonymous
// mapping aligned to 2 MiB with transparent huge pages requested (madvise MADV_HUGEPAGE: one
// page fault and one TLB entry per 2 MiB instead of per 4 KiB; where the kernel gives no huge
// pages it works the same with small ones). Below 2 MiB: calloc.
//
// Errors: allocation failure throws std::bad_alloc, as std::vector does. Not thread-safe
// (a plain value: move-only).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace cowtree {

namespace zeroed_array_internal {
// `bytes` > 0 of zeroed memory; Free takes the same byte count.
void* Allocate(size_t bytes);
void Free(void* p, size_t bytes);
}  // namespace zeroed_array_internal

template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  ZeroedArray() = default;
  // `n` elements, every byte zero.
  explicit ZeroedArray(size_t n)
      : data_(n == 0 ? nullptr : static_cast<T*>(zeroed_array_internal::Allocate(n * sizeof(T)))),
        size_(n) {}
  ZeroedArray(ZeroedArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  ZeroedArray& operator=(ZeroedArray&& o) noexcept {
    if (this != &o) {
      Reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ZeroedArray(const ZeroedArray&) = delete;
  ZeroedArray& operator=(const ZeroedArray&) = delete;
  ~ZeroedArray() { Reset(); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  void Reset() {
    if (data_ != nullptr) zeroed_array_internal::Free(data_, size_ * sizeof(T));
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace cowtree
