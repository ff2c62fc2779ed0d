#include "persistence/data_file_format.h"

#include <algorithm>

#include "persistence/assert.h"
#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"

namespace cowtree {

std::string EncodeDataFileHeader(uint32_t size_class_bytes, const StoreId& store_id) {
  COWTREE_ASSERT(IsValidSizeClass(size_class_bytes) && !store_id.is_zero());
  std::string out(kDataFileHeaderBytes, '\0');
  char* p = out.data();
  EncodeFixed64(p, kDataFileMagic);
  EncodeFixed32(p + kDataHeaderVersionOffset, kDataFileFormatVersion);
  EncodeFixed32(p + kDataHeaderClassOffset, size_class_bytes);
  store_id.EncodeTo(p + kDataHeaderStoreIdOffset);
  EncodeFixed32(p + kDataHeaderCrcOffset, Crc32c(p, kDataHeaderCrcOffset));
  COWTREE_ASSERT(VerifyDataFileHeader(out, size_class_bytes, store_id, "<encoder>").ok());
  return out;
}

Status VerifyDataFileHeader(std::string_view bytes, uint32_t expected_class_bytes,
                            const StoreId& expected_store_id, const std::string& f) {
  const auto bad = [&f](size_t offset, const std::string& what) {
    return Status::Corruption(f + ": data file header at offset " + std::to_string(offset) + ": " +
                              what);
  };
  if (bytes.size() < kDataFileHeaderBytes) {
    return bad(0, "short file: " + std::to_string(bytes.size()) + " bytes, expected at least " +
                      std::to_string(kDataFileHeaderBytes));
  }
  const char* p = bytes.data();
  if (DecodeFixed64(p) != kDataFileMagic) return bad(0, "bad magic, expected \"CWTDATA1\"");
  const uint32_t stored = DecodeFixed32(p + kDataHeaderCrcOffset);
  const uint32_t actual = Crc32c(p, kDataHeaderCrcOffset);
  if (stored != actual) {
    return bad(kDataHeaderCrcOffset, "bad CRC: stored " + std::to_string(stored) + ", computed " +
                                         std::to_string(actual));
  }
  const uint32_t version = DecodeFixed32(p + kDataHeaderVersionOffset);
  if (version != kDataFileFormatVersion) {
    return bad(kDataHeaderVersionOffset, "unknown format_version " + std::to_string(version) +
                                             ", expected " +
                                             std::to_string(kDataFileFormatVersion));
  }
  const uint32_t class_bytes = DecodeFixed32(p + kDataHeaderClassOffset);
  if (class_bytes != expected_class_bytes) {
    return bad(kDataHeaderClassOffset, "size class " + std::to_string(class_bytes) + ", expected " +
                                           std::to_string(expected_class_bytes) +
                                           " (the file name's)");
  }
  if (!std::all_of(p + kDataHeaderReservedOffset, p + kDataHeaderCrcOffset,
                   [](char c) { return c == 0; })) {
    return bad(kDataHeaderReservedOffset, "reserved bytes not zero");
  }
  const StoreId id = StoreId::FromBytes(p + kDataHeaderStoreIdOffset);
  if (id.is_zero()) return bad(kDataHeaderStoreIdOffset, "store id is zero");
  if (!expected_store_id.is_zero() && !(id == expected_store_id)) {
    return Status::Corruption(StoreIdMismatch(f, kDataHeaderStoreIdOffset, id, expected_store_id));
  }
  return Status::OK();
}

}  // namespace cowtree
