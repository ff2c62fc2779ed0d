// The header of a data file (docs/data_files.md "File header"): slot 0 of every data file
// holds it, so that a data file copied from another store, or renamed to another size class,
// is refused by name instead of being read as objects.
//
// Layout (64 bytes at offset 0; the rest of slot 0 is zero and never allocated):
//    0 magic u64 "CWTDATA1"        8 format_version u32 = 1    12 size_class_bytes u32
//   16 store_id 16 bytes (never zero)
//   32 .. 59 reserved, zero        60 header_crc32c u32 over bytes [0, 60)
//
// Contract
// - EncodeDataFileHeader asserts a valid class and a non-zero store id.
// - VerifyDataFileHeader checks size, magic, CRC, version, reserved bytes, the class (must equal
//   expected_class_bytes) and the store id (non-zero, and equal to expected_store_id unless
//   that is zero); Corruption names file_name_for_messages, the offset and what was expected.
// - Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/status.h"
#include "persistence/store_id.h"

namespace cowtree {

inline constexpr uint64_t kDataFileMagic = 0x3141544144545743ull;  // "CWTDATA1" on disk
inline constexpr uint32_t kDataFileFormatVersion = 1;
inline constexpr size_t kDataFileHeaderBytes = 64;
inline constexpr size_t kDataHeaderVersionOffset = 8;
inline constexpr size_t kDataHeaderClassOffset = 12;
inline constexpr size_t kDataHeaderStoreIdOffset = 16;
inline constexpr size_t kDataHeaderReservedOffset = 32;
inline constexpr size_t kDataHeaderCrcOffset = 60;
static_assert(kDataHeaderStoreIdOffset + StoreId::kBytes == kDataHeaderReservedOffset);
static_assert(kDataHeaderCrcOffset + 4 == kDataFileHeaderBytes);

std::string EncodeDataFileHeader(uint32_t size_class_bytes, const StoreId& store_id);
Status VerifyDataFileHeader(std::string_view bytes, uint32_t expected_class_bytes,
                            const StoreId& expected_store_id,
                            const std::string& file_name_for_messages);

}  // namespace cowtree
