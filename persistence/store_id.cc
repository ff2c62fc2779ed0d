#include "persistence/store_id.h"

#include <cstring>
#include <random>

namespace cowtree {

StoreId StoreId::Random() {
  std::random_device rd;
  StoreId id;
  do {
    for (size_t i = 0; i < kBytes; i += 4) {
      const uint32_t r = rd();
      std::memcpy(id.bytes_.data() + i, &r, 4);
    }
  } while (id.is_zero());
  return id;
}

StoreId StoreId::FromBytes(const char* p) {
  StoreId id;
  std::memcpy(id.bytes_.data(), p, kBytes);
  return id;
}

Result<StoreId> StoreId::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kBytes) {
    return Status::InvalidArgument("store id must have 32 hex digits, got " +
                                   std::to_string(hex.size()) + " characters");
  }
  StoreId id;
  for (size_t i = 0; i < kBytes; ++i) {
    unsigned v = 0;
    for (char c : hex.substr(2 * i, 2)) {
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<unsigned>(c - 'a' + 10);
      } else {
        return Status::InvalidArgument("store id: '" + std::string(1, c) +
                                       "' is not a lower-case hex digit");
      }
    }
    id.bytes_[i] = static_cast<uint8_t>(v);
  }
  return id;
}

void StoreId::EncodeTo(char* p) const { std::memcpy(p, bytes_.data(), kBytes); }

std::string StoreId::ToHex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * kBytes);
  for (uint8_t b : bytes_) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

bool StoreId::is_zero() const {
  for (uint8_t b : bytes_) {
    if (b != 0) return false;
  }
  return true;
}

StoreId ExampleStoreId() {
  char bytes[StoreId::kBytes];
  for (size_t i = 0; i < StoreId::kBytes; ++i) bytes[i] = static_cast<char>(i);
  return StoreId::FromBytes(bytes);
}

std::string StoreIdMismatch(const std::string& file, uint64_t offset_bytes, const StoreId& found,
                            const StoreId& expected) {
  if (found == expected) return "";
  return file + ": store id " + found.ToHex() + " at offset " + std::to_string(offset_bytes) +
         " is not this store's (" + expected.ToHex() + "): the file belongs to another store";
}

}  // namespace cowtree
