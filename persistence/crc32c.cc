#include "persistence/crc32c.h"

#include <isa-l/crc.h>

#include <climits>

namespace cowtree {

// ISA-L's crc32_iscsi takes and returns the CRC register without the final inversion, so the
// standard CRC32C is ~crc32_iscsi(data, len, ~0) and extension passes ~previous back in.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t length_bytes) {
  uint32_t reg = ~crc;
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  while (length_bytes > 0) {
    const int chunk = length_bytes > static_cast<size_t>(INT_MAX / 2)
                          ? INT_MAX / 2
                          : static_cast<int>(length_bytes);
    reg = crc32_iscsi(p, chunk, reg);
    p += chunk;
    length_bytes -= static_cast<size_t>(chunk);
  }
  return ~reg;
}

uint32_t Crc32c(const void* data, size_t length_bytes) {
  return Crc32cExtend(0, data, length_bytes);
}

}  // namespace cowtree
