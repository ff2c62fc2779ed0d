// The data file header (persistence/data_file_format.h, docs/data_files.md "File header"):
// the documented bytes, and every reason a header is refused.
#include <gtest/gtest.h>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/data_file_format.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

TEST(DataFileFormatTest, DocumentedExample) {
  EXPECT_EQ(testutil::Hex(EncodeDataFileHeader(4096, ExampleStoreId())),
            "4357544441544131"                  // magic "CWTDATA1"
            "01000000"                          // format_version 1
            "00100000"                          // size_class_bytes 4096
            "000102030405060708090a0b0c0d0e0f"  // store_id
            "00000000000000000000000000000000"  // reserved
            "000000000000000000000000"          // reserved
            "3ba47e2f");                        // header_crc32c 0x2f7ea43b
}

TEST(DataFileFormatTest, EveryRejectionNamesTheFile) {
  const StoreId id = ExampleStoreId();
  const std::string good = EncodeDataFileHeader(8192, id);
  EXPECT_TRUE(VerifyDataFileHeader(good, 8192, id, "data-8k.dat").ok());
  EXPECT_TRUE(VerifyDataFileHeader(good, 8192, StoreId(), "data-8k.dat").ok());  // any store
  const auto reason = [&](const std::string& bytes, uint32_t klass, const StoreId& want) {
    Status st = VerifyDataFileHeader(bytes, klass, want, "data-8k.dat");
    EXPECT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find("data-8k.dat"), std::string::npos) << st.message();
    return st.message();
  };
  const auto reseal = [](std::string b) {
    EncodeFixed32(b.data() + kDataHeaderCrcOffset, Crc32c(b.data(), kDataHeaderCrcOffset));
    return b;
  };
  EXPECT_NE(reason(good.substr(0, 63), 8192, id).find("short file"), std::string::npos);
  EXPECT_NE(reason(std::string(64, '\0'), 8192, id).find("bad magic"), std::string::npos);
  std::string flipped = good;
  flipped[20] ^= 1;
  EXPECT_NE(reason(flipped, 8192, id).find("bad CRC"), std::string::npos);
  std::string version = good;
  EncodeFixed32(version.data() + kDataHeaderVersionOffset, 2);
  EXPECT_NE(reason(reseal(version), 8192, id).find("format_version 2"), std::string::npos);
  EXPECT_NE(reason(good, 4096, id).find("size class 8192, expected 4096"), std::string::npos);
  std::string reserved = good;
  reserved[40] = 1;
  EXPECT_NE(reason(reseal(reserved), 8192, id).find("reserved"), std::string::npos);
  std::string zero = good;
  std::fill(zero.begin() + kDataHeaderStoreIdOffset, zero.begin() + kDataHeaderReservedOffset,
            '\0');
  EXPECT_NE(reason(reseal(zero), 8192, StoreId()).find("store id is zero"), std::string::npos);
  EXPECT_NE(reason(good, 8192, StoreId::Random()).find("another store"), std::string::npos);
}

}  // namespace
}  // namespace cowtree
