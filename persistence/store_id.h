// StoreId: the random 128-bit identity of a store, chosen when the store is created and
// written into the header of every file the store owns (superblock, manifest, log files, OT
// checkpoints, data files), so that a file copied from another store — or a whole file set
// swapped between two stores — is refused instead of replayed into a state neither store had.
//
// Contract
// - Random() draws 128 bits from std::random_device (getrandom(2) on Linux); never all zero.
//   An all-zero id means "none" and is refused by every decoder.
// - On disk: the 16 bytes in order (bytes()[0] first). In JSON and messages: 32 lower-case hex
//   digits (ToHex / FromHex).
// - Trivially copyable; thread-safe as a value.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/status.h"

namespace cowtree {

class StoreId {
 public:
  static constexpr size_t kBytes = 16;
  StoreId() = default;
  static StoreId Random();
  static StoreId FromBytes(const char* p);  // reads kBytes bytes
  // 32 hex digits; InvalidArgument otherwise.
  static Result<StoreId> FromHex(std::string_view hex);
  void EncodeTo(char* p) const;  // writes kBytes bytes
  std::string ToHex() const;
  bool is_zero() const;
  friend bool operator==(const StoreId&, const StoreId&) = default;

 private:
  std::array<uint8_t, kBytes> bytes_{};
};

// The id of the worked examples in docs/ (bytes 00 01 02 ... 0f), used by tests and fuzz seeds.
StoreId ExampleStoreId();

// "" if `found` (read from `file` at `offset_bytes`) is the expected id, else the sentence of a
// Corruption: "<file>: store id <found> at offset <o> is not this store's (<expected>): the
// file belongs to another store".
std::string StoreIdMismatch(const std::string& file, uint64_t offset_bytes, const StoreId& found,
                            const StoreId& expected);

}  // namespace cowtree
