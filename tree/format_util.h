// Helpers shared by the tree's on-disk body formats (tree/node_format.h,
// tree/summary_format.h). Internal header.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/status.h"

namespace cowtree::tree {

// The little-endian u32 whose bytes on disk are the four characters of `s` ("CWLF" etc.).
constexpr uint32_t MagicFromChars(const char (&s)[5]) {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[3])) << 24;
}

inline std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

inline std::string Hex8(uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02x", v);
  return buf;
}

inline Status FormatCorruption(std::string_view what, size_t offset, const std::string& detail) {
  return Status::Corruption(std::string(what) + " offset " + std::to_string(offset) + ": " +
                            detail);
}

// Checks that `body` ends with the CRC32C of everything before it (caller checked the size).
inline Status CheckTrailingCrc(std::string_view what, std::string_view body) {
  const size_t crc_offset = body.size() - 4;
  const uint32_t stored = DecodeFixed32(body.data() + crc_offset);
  const uint32_t computed = Crc32c(body.data(), crc_offset);
  if (stored != computed) {
    return FormatCorruption(what, crc_offset,
                            "crc32c " + Hex32(stored) + ", expected " + Hex32(computed) +
                                " (CRC32C of bytes [0, " + std::to_string(crc_offset) + "))");
  }
  return Status::OK();
}

// Appends the CRC32C of everything in *out so far.
inline void PutTrailingCrc(std::string* out) { PutFixed32(out, Crc32c(*out)); }

}  // namespace cowtree::tree
