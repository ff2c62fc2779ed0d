// CRC32C (Castagnoli, the iSCSI polynomial 0x1EDC6F41), computed by ISA-L's crc32_iscsi
// (Debian libisal-dev), which uses SSE4.2/PCLMUL where available.
// Crc32c("123456789") == 0xE3069283 (the standard check value; tested in crc32c_test).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cowtree {

// CRC32C of data[0, length_bytes).
uint32_t Crc32c(const void* data, size_t length_bytes);
inline uint32_t Crc32c(std::string_view s) { return Crc32c(s.data(), s.size()); }
// CRC32C of the concatenation A||B where crc == Crc32c(A).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t length_bytes);

}  // namespace cowtree
