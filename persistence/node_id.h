// NodeID: the 64-bit name of an object in the object table (OT).
//   bits 63..8  handle index (56 bits): slot in the OT
//   bits  7..0  tag (8 bits): ABA guard, incremented each time the handle is reused; cycles
//               1..255; 0 is never a valid tag.
// The all-zero value is the invalid id. Trivially copyable; stored on disk as a little-endian
// u64 (docs/object_table.md).
#pragma once

#include <cstdint>
#include <functional>
#include <type_traits>

namespace cowtree {

class NodeID {
 public:
  static constexpr uint64_t kHandleBits = 56;
  static constexpr uint64_t kHandleMax = (uint64_t{1} << kHandleBits) - 1;

  constexpr NodeID() = default;
  constexpr static NodeID FromRaw(uint64_t raw) { return NodeID(raw); }
  constexpr static NodeID Make(uint64_t handle, uint8_t tag) { return NodeID((handle << 8) | tag); }

  constexpr uint64_t raw() const { return raw_; }
  constexpr uint64_t handle() const { return raw_ >> 8; }
  constexpr uint8_t tag() const { return static_cast<uint8_t>(raw_ & 0xff); }
  // Valid ids have a non-zero tag (and hence are non-zero).
  constexpr bool valid() const { return tag() != 0; }

  // The next tag after t for handle reuse: 1..255, skipping 0.
  static constexpr uint8_t NextTag(uint8_t t) { return t == 255 ? 1 : static_cast<uint8_t>(t + 1); }

  friend constexpr bool operator==(NodeID a, NodeID b) { return a.raw_ == b.raw_; }
  friend constexpr bool operator!=(NodeID a, NodeID b) { return a.raw_ != b.raw_; }
  friend constexpr bool operator<(NodeID a, NodeID b) { return a.raw_ < b.raw_; }

 private:
  constexpr explicit NodeID(uint64_t raw) : raw_(raw) {}
  uint64_t raw_ = 0;
};

static_assert(sizeof(NodeID) == 8);
static_assert(std::is_trivially_copyable_v<NodeID>);

}  // namespace cowtree

template <>
struct std::hash<cowtree::NodeID> {
  size_t operator()(cowtree::NodeID id) const noexcept { return std::hash<uint64_t>()(id.raw()); }
};
