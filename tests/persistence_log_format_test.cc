// Tests of the log's byte format (persistence/log_format.h) and of the store's file names
// (persistence/file_names.h): encode/decode round trips, every DecodeFrame outcome, header
// verification, canonical names.
#include <gtest/gtest.h>

#include <string>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"
#include "persistence/log_format.h"

namespace cowtree {
namespace {

// Frames in these tests sit at this file offset unless a test says otherwise.
constexpr uint64_t kAt = 4096;

TEST(LogFormatTest, FrameRoundTrip) {
  std::string bytes;
  EncodeFrame(LogRecordType::kOtDelta, 0x1122334455667788ull, /*synced_offset_bytes=*/1234, "hello",
              &bytes);
  ASSERT_EQ(bytes.size(), FrameSizeBytes(5));
  ASSERT_EQ(bytes.size(), 33u);
  // length 5, type 2, reserved 0 0 0, epoch LE, synced_offset LE, payload, crc
  EXPECT_EQ(DecodeFixed32(bytes.data()), 5u);
  EXPECT_EQ(bytes[4], 2);
  EXPECT_EQ(std::string(bytes.data() + 5, 3), std::string(3, '\0'));
  EXPECT_EQ(DecodeFixed64(bytes.data() + 8), 0x1122334455667788ull);
  EXPECT_EQ(DecodeFixed64(bytes.data() + 16), 1234u);
  EXPECT_EQ(bytes.substr(24, 5), "hello");
  EXPECT_EQ(DecodeFixed32(bytes.data() + 29), Crc32c(bytes.data(), 29));
  bytes += "trailing bytes are ignored";
  FrameDecodeError error;
  Result<FrameView> f = DecodeFrame(bytes, kAt, &error);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(error, FrameDecodeError::kNone);
  EXPECT_EQ(f->type, LogRecordType::kOtDelta);
  EXPECT_EQ(f->epoch, 0x1122334455667788ull);
  EXPECT_EQ(f->synced_offset_bytes, 1234u);
  EXPECT_EQ(f->payload, "hello");
  EXPECT_EQ(f->frame_size_bytes, 33u);
}

TEST(LogFormatTest, EmptyPayloadFrame) {
  std::string bytes;
  EncodeFrame(LogRecordType::kCheckpointEnd, 7, 0, "", &bytes);
  Result<FrameView> f = DecodeFrame(bytes, kLogFileHeaderSize);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->payload.size(), 0u);
  EXPECT_EQ(f->frame_size_bytes, kFrameOverheadBytes);
  EXPECT_EQ(kFrameOverheadBytes, 28u);
}

FrameDecodeError Classify(std::string_view bytes, uint64_t frame_offset_bytes = kAt) {
  FrameDecodeError error = FrameDecodeError::kNone;
  Result<FrameView> f = DecodeFrame(bytes, frame_offset_bytes, &error);
  EXPECT_EQ(f.ok(), error == FrameDecodeError::kNone);
  if (!f.ok()) {
    EXPECT_TRUE(f.status().IsCorruption());
  }
  return error;
}

// Rewrites the frame's CRC so that a deliberately odd header still "verifies".
void Reseal(std::string* frame) {
  const size_t crc_at = frame->size() - 4;
  EncodeFixed32(frame->data() + crc_at, Crc32c(frame->data(), crc_at));
}

TEST(LogFormatTest, DecodeFrameOutcomes) {
  std::string good;
  EncodeFrame(LogRecordType::kCommit, 3, 100, "payload", &good);
  EXPECT_EQ(Classify(""), FrameDecodeError::kShortHeader);
  EXPECT_EQ(Classify(good.substr(0, 23)), FrameDecodeError::kShortHeader);
  for (size_t cut = 24; cut < good.size(); ++cut) {
    EXPECT_EQ(Classify(good.substr(0, cut)), FrameDecodeError::kShortFrame) << cut;
  }
  std::string over = good;
  EncodeFixed32(over.data(), kLogRecordPayloadMax + 1);
  EXPECT_EQ(Classify(over), FrameDecodeError::kLengthOverLimit);
  for (size_t i = 0; i < good.size(); ++i) {  // any single bit flip is caught
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = good;
      flipped[i] ^= static_cast<char>(1 << bit);
      EXPECT_NE(Classify(flipped), FrameDecodeError::kNone) << "byte " << i << " bit " << bit;
    }
  }
  std::string crc_bad = good;
  crc_bad.back() ^= 1;
  EXPECT_EQ(Classify(crc_bad), FrameDecodeError::kBadCrc);
  std::string reserved = good;
  reserved[6] = 1;
  EXPECT_EQ(Classify(reserved), FrameDecodeError::kBadCrc);  // not resealed: CRC first
  Reseal(&reserved);
  EXPECT_EQ(Classify(reserved), FrameDecodeError::kBadReserved);
  std::string type = good;
  type[4] = 9;
  Reseal(&type);
  EXPECT_EQ(Classify(type), FrameDecodeError::kUnknownType);
  type[4] = 0;
  Reseal(&type);
  EXPECT_EQ(Classify(type), FrameDecodeError::kUnknownType);
  EXPECT_EQ(Classify(std::string(64, '\0')), FrameDecodeError::kBadCrc);  // zeros never verify
}

// A frame may only claim bytes BEFORE itself are durable: synced_offset_bytes <= its offset.
TEST(LogFormatTest, SyncedOffsetPastTheFrameIsRejected) {
  std::string frame;
  EncodeFrame(LogRecordType::kCommit, 3, 100, "x", &frame);
  EXPECT_EQ(Classify(frame, 100), FrameDecodeError::kNone);
  EXPECT_EQ(Classify(frame, 5000), FrameDecodeError::kNone);
  EXPECT_EQ(Classify(frame, 99), FrameDecodeError::kSyncedOffsetAhead);
  Result<FrameView> f = DecodeFrame(frame, 99);
  ASSERT_TRUE(f.status().IsCorruption());
  EXPECT_NE(f.status().message().find("synced_offset_bytes 100"), std::string::npos)
      << f.status().message();
  EXPECT_NE(f.status().message().find("own offset 99"), std::string::npos) << f.status().message();
  // A damaged synced_offset field is a CRC failure first (not a "bug-written" frame).
  std::string damaged = frame;
  damaged[kFrameSyncedOffsetOffset + 2] ^= 1;
  EXPECT_EQ(Classify(damaged, 100), FrameDecodeError::kBadCrc);
  Reseal(&damaged);
  EXPECT_EQ(Classify(damaged, 100), FrameDecodeError::kSyncedOffsetAhead);
}

TEST(LogFormatTest, FileHeaderRoundTripAndCorruption) {
  const StoreId id = ExampleStoreId();
  const std::string h = EncodeLogFileHeader(42, id);
  ASSERT_EQ(h.size(), kLogFileHeaderSize);
  EXPECT_EQ(h.substr(0, 8), "CWTLOG01");
  EXPECT_EQ(DecodeFixed32(h.data() + kLogHeaderVersionOffset), 3u);
  EXPECT_TRUE(VerifyLogFileHeader(h, 42, id, "log-000042.log").ok());
  EXPECT_TRUE(VerifyLogFileHeader(h, 42, StoreId(), "log-000042.log").ok());  // any store
  EXPECT_EQ(LogFileHeaderStoreId(h), id);
  Status st = VerifyLogFileHeader(h, 43, id, "log-000043.log");
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("log-000043.log"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("expected 43"), std::string::npos) << st.message();
  // A file of another store.
  st = VerifyLogFileHeader(h, 42, StoreId::Random(), "log-000042.log");
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("another store"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("log-000042.log"), std::string::npos) << st.message();
  EXPECT_TRUE(VerifyLogFileHeader(h.substr(0, kLogFileHeaderSize - 1), 42, id, "f").IsCorruption());
  std::string magic = h;
  magic[0] = 'X';
  st = VerifyLogFileHeader(magic, 42, id, "f");
  EXPECT_NE(st.message().find("bad magic"), std::string::npos) << st.message();
  std::string crc = h;
  crc[20] ^= 4;
  st = VerifyLogFileHeader(crc, 42, id, "f");
  EXPECT_NE(st.message().find("bad CRC"), std::string::npos) << st.message();
  for (size_t reserved_at : {kLogHeaderReserved1Offset, kLogHeaderReserved2Offset}) {
    std::string r = h;
    r[reserved_at] = 1;
    EncodeFixed32(r.data() + kLogHeaderCrcOffset, Crc32c(r.data(), kLogHeaderCrcOffset));
    st = VerifyLogFileHeader(r, 42, id, "f");
    EXPECT_NE(st.message().find("reserved"), std::string::npos) << st.message();
  }
  std::string zero_id = h;
  std::fill(zero_id.begin() + kLogHeaderStoreIdOffset,
            zero_id.begin() + kLogHeaderStoreIdOffset + StoreId::kBytes, '\0');
  EncodeFixed32(zero_id.data() + kLogHeaderCrcOffset, Crc32c(zero_id.data(), kLogHeaderCrcOffset));
  EXPECT_NE(VerifyLogFileHeader(zero_id, 42, StoreId(), "f").message().find("store id is zero"),
            std::string::npos);
  std::string version = h;
  EncodeFixed32(version.data() + kLogHeaderVersionOffset, 4);
  EncodeFixed32(version.data() + kLogHeaderCrcOffset, Crc32c(version.data(), kLogHeaderCrcOffset));
  st = VerifyLogFileHeader(version, 42, id, "f");
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("format_version 4, expected 3"), std::string::npos) << st.message();
  // Older versions (no store id; version 1 also had 16-byte frame headers): a clear message.
  for (uint32_t old_version : {1u, 2u}) {
    EncodeFixed32(version.data() + kLogHeaderVersionOffset, old_version);
    EncodeFixed32(version.data() + kLogHeaderCrcOffset,
                  Crc32c(version.data(), kLogHeaderCrcOffset));
    st = VerifyLogFileHeader(version, 42, id, "log-000042.log");
    EXPECT_TRUE(st.IsCorruption());
    EXPECT_NE(st.message().find("log-000042.log"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("older cowtree"), std::string::npos) << st.message();
  }
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// The worked examples of docs/log_format.md, byte for byte.
TEST(LogFormatTest, DocumentedExampleBytes) {
  EXPECT_EQ(Hex(EncodeLogFileHeader(1, ExampleStoreId())),
            "4357544c4f473031"                  // magic "CWTLOG01"
            "03000000"                          // format_version 3
            "00000000"                          // reserved
            "0100000000000000"                  // file_number 1
            "000102030405060708090a0b0c0d0e0f"  // store_id
            "00000000"                          // reserved
            "96ac05b5");                        // header_crc32c 0xb505ac96
  std::string frame1, frame2;
  // In a fresh log-000001.log: the header is synced by Create, so synced_offset_bytes = 48.
  EncodeFrame(LogRecordType::kCommit, 7, 48, "hello", &frame1);
  EXPECT_EQ(Hex(frame1),
            "05000000"          // length 5
            "01"                // type 1 (commit)
            "000000"            // reserved
            "0700000000000000"  // epoch 7
            "3000000000000000"  // synced_offset_bytes 48
            "68656c6c6f"        // "hello"
            "38fe47ba");        // crc32c 0xba47fe38
  // Written at offset 81 after a Sync that covered the first frame.
  EncodeFrame(LogRecordType::kCommit, 8, 81, "world", &frame2);
  EXPECT_EQ(Hex(frame2),
            "05000000"          // length 5
            "01"                // type 1 (commit)
            "000000"            // reserved
            "0800000000000000"  // epoch 8
            "5100000000000000"  // synced_offset_bytes 81
            "776f726c64"        // "world"
            "3e2d5860");        // crc32c 0x60582d3e
  // The whole file the writer produces for this sequence: persistence_log_writer_test.cc.
}

TEST(LogFormatTest, PositionsOrderByFileThenOffset) {
  EXPECT_LT((LogPosition{1, 900}), (LogPosition{2, 32}));
  EXPECT_LT((LogPosition{2, 32}), (LogPosition{2, 33}));
  EXPECT_EQ((LogPosition{2, 33}), (LogPosition{2, 33}));
  EXPECT_EQ((LogPosition{3, 4096}).ToString(), "log-000003.log@4096");
}

TEST(FileNamesTest, NamesAndParse) {
  EXPECT_EQ(LogFileName(1), "log-000001.log");
  EXPECT_EQ(LogFileName(1234567), "log-1234567.log");
  EXPECT_EQ(ManifestFileName(1), "MANIFEST-000001.json");
  EXPECT_EQ(OtCheckpointFileName(3), "ot-000003.otc");
  EXPECT_EQ(DataFileName(4096), "data-4k.dat");
  EXPECT_EQ(DataFileName(256 * 1024), "data-256k.dat");
  EXPECT_STREQ(kSuperblockFileName, "SUPERBLOCK");
  EXPECT_STREQ(kLockFileName, "LOCK");

  FileKind kind;
  uint64_t number = 0;
  ASSERT_TRUE(ParseFileName("log-000002.log", &kind, &number));
  EXPECT_EQ(kind, FileKind::kLog);
  EXPECT_EQ(number, 2u);
  ASSERT_TRUE(ParseFileName("log-1234567.log", &kind, &number));
  EXPECT_EQ(number, 1234567u);
  ASSERT_TRUE(ParseFileName("MANIFEST-000009.json", &kind, &number));
  EXPECT_EQ(kind, FileKind::kManifest);
  EXPECT_EQ(number, 9u);
  ASSERT_TRUE(ParseFileName("ot-000003.otc", &kind, &number));
  EXPECT_EQ(kind, FileKind::kOtCheckpoint);
  ASSERT_TRUE(ParseFileName("SUPERBLOCK", &kind, &number));
  EXPECT_EQ(kind, FileKind::kSuperblock);
  ASSERT_TRUE(ParseFileName("LOCK", &kind, &number));
  EXPECT_EQ(kind, FileKind::kLock);
  ASSERT_TRUE(ParseFileName("data-64k.dat", &kind, &number));
  EXPECT_EQ(kind, FileKind::kData);
  EXPECT_EQ(number, 65536u);
  ASSERT_TRUE(ParseFileName("MANIFEST-000004.json.tmp", &kind, &number));
  EXPECT_EQ(kind, FileKind::kTemp);
  EXPECT_EQ(number, 4u);
  ASSERT_TRUE(ParseFileName("whatever.tmp", &kind, &number));
  EXPECT_EQ(kind, FileKind::kTemp);
  EXPECT_EQ(number, 0u);

  for (const char* bad :
       {"", "log-1.log", "log-0000001.log", "log-000000.log", "log-00000a.log", "log-000001.lo",
        "log-000001.log.bak", "data-3k.dat", "data-512k.dat", "data-4K.dat", "superblock",
        "dir/log-000001.log", "../SUPERBLOCK", "ot-000001.OTC", "log-99999999999999999999.log",
        "MANIFEST-.json", ".tmp"}) {
    EXPECT_FALSE(ParseFileName(bad, &kind, &number)) << bad;
  }
}

TEST(FileNamesTest, EveryNameRoundTrips) {
  FileKind kind;
  uint64_t number = 0;
  for (uint64_t n : {1ull, 999999ull, 1000000ull, 18446744073709551615ull}) {
    ASSERT_TRUE(ParseFileName(LogFileName(n), &kind, &number)) << n;
    EXPECT_EQ(number, n);
    ASSERT_TRUE(ParseFileName(ManifestFileName(n), &kind, &number));
    EXPECT_EQ(number, n);
    ASSERT_TRUE(ParseFileName(OtCheckpointFileName(n), &kind, &number));
    EXPECT_EQ(number, n);
  }
  for (uint32_t c = kMinSizeClassBytes; c <= kMaxSizeClassBytes; c *= 2) {
    ASSERT_TRUE(ParseFileName(DataFileName(c), &kind, &number)) << c;
    EXPECT_EQ(number, c);
  }
}

}  // namespace
}  // namespace cowtree
