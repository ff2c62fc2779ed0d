// Tests of ReplayLog's stop rules (persistence/log_reader.h) on damaged logs: a torn last
// frame cut at every byte, zero tails, holes in the unsynced tail followed by valid frames
// (reordered writes: a torn tail) versus bit flips that a later frame's synced_offset_bytes
// proves durable (corruption), damage in a file that is not the last, bad file headers,
// nonzero reserved bytes, torn log creation, the three WalRecoveryModes, and randomized crash
// images (hand-built and from testutil's FaultInjectionEnv).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"
#include "persistence/log_reader.h"
#include "persistence/log_writer.h"
#include "testutil/deterministic_rng.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

constexpr WalRecoveryMode kDefault = WalRecoveryMode::kTolerateCorruptedTailRecords;
constexpr WalRecoveryMode kAbsolute = WalRecoveryMode::kAbsoluteConsistency;
constexpr WalRecoveryMode kPointInTime = WalRecoveryMode::kPointInTimeRecovery;

class LogReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cowtree_log_replay_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_dir_ = dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + tmp_dir_ + "'").c_str()); }

  // Runs the rest of the test on an in-memory file system (testutil's FaultInjectionEnv used
  // as a plain RAM disk): the randomized tests rewrite the file thousands of times.
  void UseMemoryEnv() {
    memory_env_ = std::make_unique<testutil::FaultInjectionEnv>();
    ASSERT_TRUE(memory_env_->CreateDir("/db").ok());
    env_ = memory_env_.get();
    dir_ = "/db";
  }

  std::string Path(uint64_t number) const { return JoinPath(dir_, LogFileName(number)); }

  // Writes `count` records (payload "record-<i>", epoch i) with a writer that rotates at
  // file_size_max_bytes; returns each record's start position. With sync_each, every record
  // is fdatasync'd before the next is appended, so each frame's synced_offset_bytes proves
  // every earlier frame of its file durable; otherwise only Close syncs (every frame records
  // the synced end at its file's start: 32).
  std::vector<LogPosition> WriteRecords(int count, uint64_t file_size_max_bytes = 64 << 20,
                                        bool sync_each = true) {
    LogWriterOptions options = testutil::ExampleLogOptions();
    options.file_size_max_bytes = file_size_max_bytes;
    auto w = LogWriter::Create(env_, dir_, 1, options);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    std::vector<LogPosition> starts;
    LogPosition prev = (*w)->end();
    for (int i = 0; i < count; ++i) {
      auto p = (*w)->Append(LogRecordType::kCommit, i, "record-" + std::to_string(i));
      EXPECT_TRUE(p.ok());
      if (sync_each) EXPECT_TRUE((*w)->Sync(*p).ok());
      // After a rotation the record starts just after the new file's header.
      starts.push_back(p->file_number == prev.file_number
                           ? prev
                           : LogPosition{p->file_number, kLogFileHeaderSize});
      prev = *p;
    }
    EXPECT_TRUE((*w)->Close().ok());
    return starts;
  }

  std::string Read(uint64_t number) {
    std::string bytes;
    EXPECT_TRUE(env_->ReadFileToString(Path(number), &bytes).ok());
    return bytes;
  }
  // Replaces the file's content (no fdatasync: the tests only need the page cache).
  void Write(uint64_t number, const std::string& bytes) {
    auto f = env_->OpenFile(Path(number), OpenMode::kCreate);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->Truncate(0).ok());
    ASSERT_TRUE((*f)->WriteAt(0, bytes).ok());
  }

  struct Replayed {
    Status status;
    ReplayStats stats;
    std::vector<uint64_t> epochs;
  };
  Replayed Replay(WalRecoveryMode mode, LogPosition start = {1, 0}) {
    Replayed r;
    r.status = ReplayLog(
        env_, dir_, start, mode,
        [&r](const LogRecord& rec) {
          // Payload "record-<epoch>", optionally followed by "|" and padding.
          const std::string prefix = "record-" + std::to_string(rec.epoch);
          EXPECT_EQ(rec.payload.substr(0, prefix.size()), prefix);
          EXPECT_TRUE(rec.payload.size() == prefix.size() || rec.payload[prefix.size()] == '|');
          r.epochs.push_back(rec.epoch);
          return Status::OK();
        },
        &r.stats);
    return r;
  }

  Env* env_ = Env::Default();
  std::string dir_;
  std::string tmp_dir_;  // removed by TearDown
  std::unique_ptr<testutil::FaultInjectionEnv> memory_env_;
};

TEST_F(LogReplayTest, TornLastFrameAtEveryByteBoundary) {
  const std::vector<LogPosition> starts = WriteRecords(3);
  const std::string full = Read(1);
  const uint64_t s = starts[2].offset_bytes, e = full.size();
  for (uint64_t cut = s; cut <= e; ++cut) {
    Write(1, full.substr(0, cut));
    for (WalRecoveryMode mode : {kDefault, kPointInTime}) {
      Replayed r = Replay(mode);
      ASSERT_TRUE(r.status.ok()) << cut << ": " << r.status.ToString();
      if (cut == s || cut == e) {
        EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kCleanEnd) << cut;
        EXPECT_EQ(r.stats.dropped_bytes, 0u);
      } else {
        EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kTornTail) << cut;
        EXPECT_EQ(r.stats.dropped_bytes, cut - s) << cut;
        EXPECT_NE(r.stats.description.find("torn tail"), std::string::npos);
      }
      EXPECT_EQ(r.epochs.size(), cut == e ? 3u : 2u) << cut;
      EXPECT_EQ(r.stats.end, (LogPosition{1, cut == e ? e : s})) << cut;
    }
    Replayed a = Replay(kAbsolute);
    EXPECT_EQ(a.status.ok(), cut == s || cut == e) << cut << ": " << a.status.ToString();
    if (!a.status.ok()) {
      EXPECT_TRUE(a.status.IsCorruption());
      EXPECT_NE(a.status.message().find("log-000001.log at offset " + std::to_string(s)),
                std::string::npos)
          << a.status.message();
    }
  }
}

// The tail of the last frame never reached the disk but the file size did: zeros.
TEST_F(LogReplayTest, TornLastFrameZeroFilledAtEveryByteBoundary) {
  const std::vector<LogPosition> starts = WriteRecords(3);
  const std::string full = Read(1);
  const uint64_t s = starts[2].offset_bytes, e = full.size();
  for (uint64_t cut = s; cut < e; ++cut) {
    std::string damaged = full;
    std::fill(damaged.begin() + cut, damaged.end(), '\0');
    Write(1, damaged);
    Replayed r = Replay(kDefault);
    ASSERT_TRUE(r.status.ok()) << cut << ": " << r.status.ToString();
    EXPECT_EQ(r.epochs.size(), 2u);
    EXPECT_EQ(r.stats.stop_reason,
              cut == s ? ReplayStopReason::kZeroTail : ReplayStopReason::kTornTail)
        << cut;
    EXPECT_EQ(r.stats.dropped_bytes, e - s);
    EXPECT_EQ(r.stats.end, starts[2]);
  }
}

TEST_F(LogReplayTest, ZeroTailIsACleanEndExceptInAbsoluteMode) {
  WriteRecords(2);
  const std::string full = Read(1);
  Write(1, full + std::string(4096, '\0'));
  Replayed r = Replay(kDefault);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kZeroTail);
  EXPECT_EQ(r.stats.dropped_bytes, 4096u);
  EXPECT_EQ(r.stats.end, (LogPosition{1, full.size()}));
  EXPECT_EQ(r.epochs.size(), 2u);
  Replayed p = Replay(kPointInTime);
  ASSERT_TRUE(p.status.ok());
  EXPECT_EQ(p.stats.stop_reason, ReplayStopReason::kZeroTail);
  EXPECT_TRUE(Replay(kAbsolute).status.IsCorruption());
}

// Bit rot in the middle of the log must not be mistaken for a torn tail: every frame after the
// damaged one was written after an fdatasync that covered it (synced_offset_bytes says so).
TEST_F(LogReplayTest, BitFlipInAMiddleFrameFollowedByValidFrames) {
  const std::vector<LogPosition> starts = WriteRecords(30);
  const std::string full = Read(1);
  const uint64_t bad = starts[1].offset_bytes;
  for (uint64_t flip_at :
       {bad + 0, bad + 4, bad + 9, bad + 17, bad + 25, bad + 30, starts[2].offset_bytes - 1}) {
    std::string damaged = full;
    damaged[flip_at] ^= 0x01;
    Write(1, damaged);
    Replayed r = Replay(kDefault);
    ASSERT_TRUE(r.status.IsCorruption()) << flip_at << ": " << r.status.ToString();
    const std::string& m = r.status.message();
    EXPECT_NE(m.find("log-000001.log at offset " + std::to_string(bad)), std::string::npos) << m;
    EXPECT_NE(m.find("valid frame at offset " + std::to_string(starts[2].offset_bytes) +
                     " records synced_offset_bytes " + std::to_string(starts[2].offset_bytes)),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("bit rot"), std::string::npos) << m;
    EXPECT_EQ(r.epochs.size(), 1u);  // records before the damage were delivered
    EXPECT_TRUE(Replay(kAbsolute).status.IsCorruption());

    Replayed p = Replay(kPointInTime);
    ASSERT_TRUE(p.status.ok()) << p.status.ToString();
    EXPECT_EQ(p.epochs.size(), 1u);
    EXPECT_EQ(p.stats.stop_reason, ReplayStopReason::kCorruptedFrame);
    EXPECT_EQ(p.stats.end, starts[1]);
    EXPECT_EQ(p.stats.dropped_bytes, full.size() - bad);
    EXPECT_EQ(p.stats.frames_dropped_after_hole, 28u);
  }
}

// The same flip when nothing was fdatasync'd between the damaged frame and the frames after it
// (only Close synced): no frame proves the damaged one durable, so it is indistinguishable
// from a hole in the unsynced tail and dropped as one (the documented limit of the rule).
TEST_F(LogReplayTest, BitFlipNotProvenDurableIsDroppedLikeATornTail) {
  const std::vector<LogPosition> starts = WriteRecords(5, 64 << 20, /*sync_each=*/false);
  std::string damaged = Read(1);
  const uint64_t size = damaged.size();
  damaged[starts[1].offset_bytes + 26] ^= 0x04;
  Write(1, damaged);
  Replayed r = Replay(kDefault);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.epochs, (std::vector<uint64_t>{0}));
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kTornTail);
  EXPECT_EQ(r.stats.frames_dropped_after_hole, 3u);
  EXPECT_EQ(r.stats.dropped_bytes, size - starts[1].offset_bytes);
  EXPECT_NE(r.stats.description.find("hole in the unsynced tail"), std::string::npos)
      << r.stats.description;
}

// A flipped length that points past the end of the file looks "short", but valid frames
// follow: still corruption.
TEST_F(LogReplayTest, FlippedLengthInAMiddleFrameIsCorruption) {
  const std::vector<LogPosition> starts = WriteRecords(5);  // synced after each record
  std::string damaged = Read(1);
  damaged[starts[1].offset_bytes + 2] ^= 0x40;  // length += 4 MiB
  Write(1, damaged);
  Replayed r = Replay(kDefault);
  ASSERT_TRUE(r.status.IsCorruption()) << r.status.ToString();
  EXPECT_NE(r.status.message().find("short frame"), std::string::npos) << r.status.message();
}

TEST_F(LogReplayTest, DamageInAFileThatIsNotTheLastIsCorruption) {
  const std::vector<LogPosition> starts = WriteRecords(40, 512);
  ASSERT_GT(starts.back().file_number, 2u);
  const std::string file1 = Read(1);
  const uint64_t file1_records = [&] {
    uint64_t n = 0;
    for (const LogPosition& p : starts) n += p.file_number == 1;
    return n;
  }();
  for (std::string damaged : {file1.substr(0, file1.size() - 3),  // torn
                              file1 + std::string(100, '\0')}) {  // zero tail
    Write(1, damaged);
    Replayed r = Replay(kDefault);
    ASSERT_TRUE(r.status.IsCorruption()) << r.status.ToString();
    EXPECT_NE(r.status.message().find("log-000002.log exists"), std::string::npos)
        << r.status.message();
    Replayed p = Replay(kPointInTime);
    ASSERT_TRUE(p.status.ok()) << p.status.ToString();
    EXPECT_EQ(p.stats.stop_reason, ReplayStopReason::kCorruptedFrame);
    EXPECT_EQ(p.stats.end.file_number, 1u);
    EXPECT_GE(p.epochs.size(), file1_records - 1);
    EXPECT_LE(p.epochs.size(), file1_records);
    EXPECT_NE(p.stats.description.find("not replayed: log-000002.log"), std::string::npos)
        << p.stats.description;
    // A writer cannot resume in file 1 while later files hold data.
    EXPECT_TRUE(LogWriter::OpenForAppend(env_, dir_, p.stats.end, testutil::ExampleLogOptions())
                    .status()
                    .IsInvalidArgument());
  }
  Write(1, file1);
  Replayed ok = Replay(kDefault);
  ASSERT_TRUE(ok.status.ok()) << ok.status.ToString();
  EXPECT_EQ(ok.epochs.size(), 40u);
}

TEST_F(LogReplayTest, BadFileHeaders) {
  WriteRecords(40, 512);
  EXPECT_TRUE(Replay(kDefault, LogPosition{99, 0}).status.IsNotFound());
  const std::string file1 = Read(1), file2 = Read(2);
  struct Case {
    size_t at;
    const char* expect;
  };
  for (const Case& c :
       {Case{0, "bad magic"}, Case{8, "bad CRC"}, Case{17, "bad CRC"}, Case{29, "bad CRC"}}) {
    for (uint64_t number : {1, 2}) {
      std::string damaged = number == 1 ? file1 : file2;
      damaged[c.at] ^= 0x20;
      Write(number, damaged);
      for (WalRecoveryMode mode : {kDefault, kAbsolute, kPointInTime}) {
        Replayed r = Replay(mode);
        ASSERT_TRUE(r.status.IsCorruption()) << r.status.ToString();
        EXPECT_NE(r.status.message().find(LogFileName(number)), std::string::npos);
        EXPECT_NE(r.status.message().find(c.expect), std::string::npos) << r.status.message();
      }
      Write(number, number == 1 ? file1 : file2);
    }
  }
  // A header for another file number (a misplaced file).
  Write(2, EncodeLogFileHeader(5, ExampleStoreId()));
  Replayed r = Replay(kDefault);
  ASSERT_TRUE(r.status.IsCorruption());
  EXPECT_NE(r.status.message().find("expected 2"), std::string::npos) << r.status.message();
  // A short header on the start file.
  Write(1, file1.substr(0, 20));
  EXPECT_TRUE(Replay(kDefault).status.IsCorruption());
}

// A frame whose CRC verifies but whose reserved bytes, type or synced_offset_bytes are wrong
// was written that way (a bug): never a torn write, so Corruption in every mode, even at the
// tail.
TEST_F(LogReplayTest, ReservedNonZeroIsCorruptionInEveryMode) {
  const std::vector<LogPosition> starts = WriteRecords(3);
  const std::string full = Read(1);
  for (size_t field : {kFrameReservedOffset, kFrameReservedOffset + 2, kFrameTypeOffset,
                       kFrameSyncedOffsetOffset}) {
    std::string damaged = full;
    const uint64_t s = starts[2].offset_bytes;
    if (field == kFrameSyncedOffsetOffset) {
      EncodeFixed64(damaged.data() + s + field, s + 1);  // claims its own first byte is synced
    } else {
      damaged[s + field] = field == kFrameTypeOffset ? 7 : 1;
    }
    const size_t crc_at = damaged.size() - 4;
    EncodeFixed32(damaged.data() + crc_at, Crc32c(damaged.data() + s, crc_at - s));
    Write(1, damaged);
    for (WalRecoveryMode mode : {kDefault, kAbsolute, kPointInTime}) {
      Replayed r = Replay(mode);
      ASSERT_TRUE(r.status.IsCorruption()) << r.status.ToString();
      EXPECT_NE(r.status.message().find("CRC verifies"), std::string::npos);
    }
  }
}

TEST_F(LogReplayTest, TornLogFileCreationIsDroppedLikeATornTail) {
  WriteRecords(3);
  const uint64_t size1 = Read(1).size();
  for (const std::string& leftover :
       {std::string(), std::string(32, '\0'), std::string(100, '\0'), std::string("CWTLO")}) {
    Write(2, leftover);
    Replayed r = Replay(kDefault);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.epochs.size(), 3u);
    EXPECT_EQ(r.stats.end, (LogPosition{1, size1}));
    EXPECT_EQ(r.stats.last_file_number, 2u);
    EXPECT_EQ(r.stats.dropped_bytes, leftover.size());
    EXPECT_EQ(r.stats.stop_reason,
              leftover == "CWTLO" ? ReplayStopReason::kTornTail : ReplayStopReason::kZeroTail);
    EXPECT_TRUE(Replay(kAbsolute).status.IsCorruption());
    // ... but not if a later file exists: then file 2 lost a header it had synced.
    Write(3, EncodeLogFileHeader(3, ExampleStoreId()));
    EXPECT_TRUE(Replay(kDefault).status.IsCorruption());
    ASSERT_TRUE(env_->DeleteFile(Path(3)).ok());
  }
}

TEST_F(LogReplayTest, StartPositionsAndCallbackErrors) {
  const std::vector<LogPosition> starts = WriteRecords(4);
  Replayed r = Replay(kDefault, starts[2]);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.epochs, (std::vector<uint64_t>{2, 3}));
  r = Replay(kDefault, LogPosition{1, 5});  // inside the header: from just after it
  EXPECT_EQ(r.epochs.size(), 4u);
  const uint64_t size = Read(1).size();
  r = Replay(kDefault, LogPosition{1, size});
  ASSERT_TRUE(r.status.ok());
  EXPECT_TRUE(r.epochs.empty());
  EXPECT_EQ(r.stats.end, (LogPosition{1, size}));
  r = Replay(kDefault, LogPosition{1, size + 1});
  EXPECT_TRUE(r.status.IsCorruption()) << r.status.ToString();
  EXPECT_TRUE(Replay(kDefault, LogPosition{0, 0}).status.IsInvalidArgument());

  int calls = 0;
  Status st = ReplayLog(
      env_, dir_, LogPosition{1, 0}, kDefault,
      [&calls](const LogRecord&) {
        return ++calls == 2 ? Status::InvalidArgument("stop here") : Status::OK();
      },
      nullptr);
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_EQ(st.message(), "stop here");
  EXPECT_EQ(calls, 2);
}

TEST_F(LogReplayTest, FindNextValidFrameSkipsJunk) {
  std::string bytes(37, 'j');
  const size_t at = bytes.size();
  EncodeFrame(LogRecordType::kCatalog, 1, /*synced_offset_bytes=*/at, "x", &bytes);
  EXPECT_EQ(FindNextValidFrame(bytes, 0), at);
  EXPECT_EQ(FindNextValidFrame(bytes, at + 1), std::string_view::npos);
  EXPECT_EQ(FindNextValidFrame(std::string(1000, '\0'), 0), std::string_view::npos);
  // The same frame placed before the offset it claims is synced: not a valid frame there.
  std::string early(20, 'j');
  EncodeFrame(LogRecordType::kCatalog, 1, /*synced_offset_bytes=*/37, "x", &early);
  EXPECT_EQ(FindNextValidFrame(early, 0), std::string_view::npos);
}

TEST_F(LogReplayTest, ScanAfterBadRegionCountsFramesAndFindsTheProof) {
  // [junk 40][frame synced 10 @40][frame synced 90 @69][frame synced 5 @98]
  std::string bytes(40, 'j');
  EncodeFrame(LogRecordType::kCommit, 1, 10, "a", &bytes);
  EncodeFrame(LogRecordType::kCommit, 2, 69, "b", &bytes);
  EncodeFrame(LogRecordType::kCommit, 3, 5, "c", &bytes);
  BadRegionScan scan = ScanAfterBadRegion(bytes, 20);
  EXPECT_EQ(scan.valid_frames, 3u);
  EXPECT_EQ(scan.first_valid_offset, 40u);
  EXPECT_EQ(scan.proof_offset, 69u);  // 69 > 20; the frame at 40 records only 10
  EXPECT_EQ(scan.proof_synced_offset_bytes, 69u);
  scan = ScanAfterBadRegion(bytes, 69);  // a bad region at 69: nothing after proves 69 synced
  EXPECT_EQ(scan.valid_frames, 1u);
  EXPECT_EQ(scan.proof_offset, std::string_view::npos);
  // A frame inside a verified frame's payload is payload: not counted.
  std::string outer(32, 'j');
  std::string inner;
  EncodeFrame(LogRecordType::kCommit, 9, 0, "inner", &inner);
  EncodeFrame(LogRecordType::kCommit, 1, 0, inner, &outer);
  scan = ScanAfterBadRegion(outer, 0);
  EXPECT_EQ(scan.valid_frames, 1u);
  EXPECT_EQ(scan.first_valid_offset, 32u);
}

// ---- Reordered unsynced writes (DESIGN.md, fault model): after a crash the unsynced tail may
// hold a hole FOLLOWED by a frame that did reach the disk. ----

// Appends "record-<i>|" + padding frames; the Sync() calls are the test's.
struct Frame {
  LogPosition start, end;
  uint64_t synced_offset_bytes = 0;  // what the writer must have recorded
};

std::string PaddedPayload(uint64_t epoch, size_t pad_bytes) {
  return "record-" + std::to_string(epoch) + "|" + std::string(pad_bytes, 'p');
}

// A, B, Sync, C, D (never synced): "C lost, D kept" → A, B and a torn tail, no error.
TEST_F(LogReplayTest, HoleInTheUnsyncedTailFollowedByAValidFrameIsATornTail) {
  auto w = LogWriter::Create(env_, dir_, 1, testutil::ExampleLogOptions());
  ASSERT_TRUE(w.ok());
  std::vector<LogPosition> ends;
  for (uint64_t i = 0; i < 4; ++i) {
    auto p = (*w)->Append(LogRecordType::kCommit, i, PaddedPayload(i, 700));
    ASSERT_TRUE(p.ok());
    ends.push_back(*p);
    if (i == 1) ASSERT_TRUE((*w)->Sync(*p).ok());
  }
  ASSERT_TRUE((*w)->Flush().ok());  // the "crash" happens before any further fdatasync
  const std::string full = Read(1);
  const uint64_t c_start = ends[1].offset_bytes, c_end = ends[2].offset_bytes;
  const uint64_t c_sector = (c_start / 512 + 1) * 512;
  ASSERT_LT(c_sector, c_end);
  testutil::DeterministicRng rng(7);
  std::string garbage(c_end - c_start, '\0');
  for (char& ch : garbage) ch = static_cast<char>(rng.Next());
  struct Image {
    const char* what;
    std::string bytes;
  };
  std::vector<Image> images = {
      {"zeros over C",
       full.substr(0, c_start) + std::string(c_end - c_start, '\0') + full.substr(c_end)},
      {"garbage over C", full.substr(0, c_start) + garbage + full.substr(c_end)},
      // C torn at the first sector boundary inside it: its first sector persisted.
      {"C torn at a sector",
       full.substr(0, c_sector) + std::string(c_end - c_sector, '\0') + full.substr(c_end)},
  };
  for (const Image& image : images) {
    SCOPED_TRACE(image.what);
    Write(1, image.bytes);
    for (WalRecoveryMode mode : {kDefault, kPointInTime}) {
      Replayed r = Replay(mode);
      ASSERT_TRUE(r.status.ok()) << r.status.ToString();
      EXPECT_EQ(r.epochs, (std::vector<uint64_t>{0, 1}));
      EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kTornTail);
      EXPECT_EQ(r.stats.end, ends[1]);
      EXPECT_EQ(r.stats.dropped_bytes, full.size() - c_start);
      EXPECT_EQ(r.stats.frames_dropped_after_hole, 1u);  // D
      EXPECT_NE(r.stats.description.find("hole in the unsynced tail"), std::string::npos)
          << r.stats.description;
    }
    EXPECT_TRUE(Replay(kAbsolute).status.IsCorruption());
  }
  // OpenForAppend truncates to the replay end, so D can never reappear behind new records.
  Write(1, images[0].bytes);
  Replayed r = Replay(kDefault);
  ASSERT_TRUE(r.status.ok());
  auto w2 = LogWriter::OpenForAppend(env_, dir_, r.stats.end, testutil::ExampleLogOptions());
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_EQ(*env_->FileSize(Path(1)), c_start);
  auto e = (*w2)->Append(LogRecordType::kCommit, 9, "record-9");
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*w2)->Close().ok());
  r = Replay(kAbsolute);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.epochs, (std::vector<uint64_t>{0, 1, 9}));
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kCleanEnd);
}

// A, B, Sync, C, Sync, D: D records that C was synced, so a flipped bit in C is bit rot.
TEST_F(LogReplayTest, FlipInAFrameThatALaterFrameProvesSyncedIsCorruption) {
  auto w = LogWriter::Create(env_, dir_, 1, testutil::ExampleLogOptions());
  ASSERT_TRUE(w.ok());
  std::vector<LogPosition> ends;
  for (uint64_t i = 0; i < 4; ++i) {
    auto p = (*w)->Append(LogRecordType::kCommit, i, PaddedPayload(i, 100));
    ASSERT_TRUE(p.ok());
    ends.push_back(*p);
    if (i == 1 || i == 2) ASSERT_TRUE((*w)->Sync(*p).ok());
  }
  ASSERT_TRUE((*w)->Flush().ok());
  const std::string full = Read(1);
  const uint64_t c_start = ends[1].offset_bytes, c_end = ends[2].offset_bytes;
  for (uint64_t at = c_start; at < c_end; at += 7) {
    std::string damaged = full;
    damaged[at] ^= static_cast<char>(1 << (at % 8));  // ONE bit
    Write(1, damaged);
    Replayed r = Replay(kDefault);
    ASSERT_TRUE(r.status.IsCorruption()) << at << ": " << r.status.ToString();
    const std::string& m = r.status.message();
    EXPECT_NE(m.find("log-000001.log at offset " + std::to_string(c_start)), std::string::npos)
        << m;
    EXPECT_NE(m.find("valid frame at offset " + std::to_string(c_end) +
                     " records synced_offset_bytes " + std::to_string(c_end)),
              std::string::npos)
        << m;
    EXPECT_EQ(r.epochs, (std::vector<uint64_t>{0, 1}));
    Replayed p = Replay(kPointInTime);
    ASSERT_TRUE(p.status.ok()) << p.status.ToString();
    EXPECT_EQ(p.epochs, (std::vector<uint64_t>{0, 1}));
    EXPECT_EQ(p.stats.stop_reason, ReplayStopReason::kCorruptedFrame);
    EXPECT_EQ(p.stats.frames_dropped_after_hole, 1u);
    EXPECT_TRUE(Replay(kAbsolute).status.IsCorruption());
  }
}

// Randomized: N frames with random Syncs; crash images keep or drop each unsynced frame
// independently (dropped: zeros or garbage; the file may end at the last kept frame) and tear
// one. Replay never errors and returns exactly the frames before the first frame that did not
// survive — always every frame a Sync covered. Then single-bit flips inside synced frames that
// a surviving later frame proves durable are always Corruption.
TEST_F(LogReplayTest, RandomCrashImagesAndProvenBitFlips) {
  UseMemoryEnv();
  const uint64_t seed = 20260521;
  SCOPED_TRACE("seed " + std::to_string(seed));
  testutil::DeterministicRng rng(seed);
  uint64_t images_with_hole_and_frames_after = 0, flips = 0;
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    if (env_->FileExists(Path(1))) ASSERT_TRUE(env_->DeleteFile(Path(1)).ok());
    auto w = LogWriter::Create(env_, dir_, 1, testutil::ExampleLogOptions());
    ASSERT_TRUE(w.ok());
    const int n = 20 + static_cast<int>(rng.Uniform(30));
    std::vector<Frame> frames;
    uint64_t synced = kLogFileHeaderSize;
    for (int i = 0; i < n; ++i) {
      const LogPosition start = (*w)->end();
      auto p = (*w)->Append(LogRecordType::kCommit, i, PaddedPayload(i, rng.Uniform(1500)));
      ASSERT_TRUE(p.ok());
      frames.push_back(Frame{start, *p, synced});
      if (rng.OneIn(4)) {
        ASSERT_TRUE((*w)->Sync(*p).ok());
        synced = p->offset_bytes;
      }
      if (rng.OneIn(3)) ASSERT_TRUE((*w)->Flush().ok());
    }
    ASSERT_TRUE((*w)->Flush().ok());
    w->reset();
    const std::string full = Read(1);
    // The writer recorded exactly the synced ends the test saw.
    for (const Frame& f : frames) {
      Result<FrameView> v =
          DecodeFrame(std::string_view(full).substr(f.start.offset_bytes), f.start.offset_bytes);
      ASSERT_TRUE(v.ok());
      ASSERT_EQ(v->synced_offset_bytes, f.synced_offset_bytes);
    }
    int first_unsynced = 0;  // frames [0, first_unsynced) were covered by a Sync
    while (first_unsynced < n && frames[first_unsynced].end.offset_bytes <= synced) {
      ++first_unsynced;
    }

    // Builds a crash image; *kept[i] tells whether frame i survived intact.
    auto make_image = [&](std::vector<bool>* kept) {
      std::string img = full;
      kept->assign(n, true);
      const int torn = first_unsynced < n && rng.OneIn(2)
                           ? first_unsynced + static_cast<int>(rng.Uniform(n - first_unsynced))
                           : -1;
      for (int i = first_unsynced; i < n; ++i) {
        if (i != torn && rng.Bool()) continue;  // kept
        (*kept)[i] = false;
        const uint64_t s = frames[i].start.offset_bytes, e = frames[i].end.offset_bytes;
        uint64_t lost_from = s;
        if (i == torn) {  // a prefix of its sectors persisted (or, if none fits, some bytes)
          const uint64_t sector = (s / 512 + 1) * 512;
          lost_from = sector < e ? sector : s + rng.Uniform(e - s);
        }
        const bool zeros = rng.Bool();
        for (uint64_t b = lost_from; b < e; ++b) {
          img[b] = zeros ? '\0' : static_cast<char>(rng.Next());
        }
      }
      // The size may not have reached the disk: end at the last surviving frame.
      if (rng.Bool()) {
        uint64_t size = frames[first_unsynced > 0 ? first_unsynced - 1 : 0].end.offset_bytes;
        if (first_unsynced == 0) size = kLogFileHeaderSize;
        for (int i = first_unsynced; i < n; ++i) {
          if ((*kept)[i]) size = frames[i].end.offset_bytes;
        }
        img.resize(std::max<uint64_t>(size, synced));
      }
      return img;
    };

    for (int image = 0; image < 40; ++image) {
      std::vector<bool> kept;
      const std::string img = make_image(&kept);
      int k = 0;  // frames before the first lost one
      while (k < n && kept[k]) ++k;
      uint64_t after_hole = 0;
      for (int i = k + 1; i < n; ++i) {
        after_hole += kept[i] && frames[i].end.offset_bytes <= img.size();
      }
      Write(1, img);
      for (WalRecoveryMode mode : {kDefault, kPointInTime}) {
        Replayed r = Replay(mode);
        ASSERT_TRUE(r.status.ok()) << "image " << image << ": " << r.status.ToString();
        ASSERT_EQ(r.epochs.size(), static_cast<size_t>(k)) << "image " << image;
        for (int i = 0; i < k; ++i) ASSERT_EQ(r.epochs[i], static_cast<uint64_t>(i));
        ASSERT_GE(k, first_unsynced);  // every synced frame is there
        EXPECT_EQ(r.stats.end, k < n ? frames[k].start : frames[n - 1].end);
        EXPECT_EQ(r.stats.frames_dropped_after_hole, after_hole);
        EXPECT_NE(r.stats.stop_reason, ReplayStopReason::kCorruptedFrame);
      }
      images_with_hole_and_frames_after += after_hole > 0;
    }

    // Single-bit flips in synced frames proven durable by a surviving later frame.
    for (int attempt = 0; attempt < 40; ++attempt) {
      std::vector<bool> kept;
      std::string img = make_image(&kept);
      if (first_unsynced == 0) break;
      const int f = static_cast<int>(rng.Uniform(first_unsynced));
      const uint64_t fs = frames[f].start.offset_bytes, fe = frames[f].end.offset_bytes;
      bool proven = false;
      for (int i = f + 1; i < n; ++i) {
        proven |= kept[i] && frames[i].end.offset_bytes <= img.size() &&
                  frames[i].synced_offset_bytes > fs;
      }
      if (!proven) continue;
      const uint64_t at = fs + rng.Uniform(fe - fs);
      img[at] ^= static_cast<char>(1 << rng.Uniform(8));
      Write(1, img);
      ++flips;
      Replayed r = Replay(kDefault);
      ASSERT_TRUE(r.status.IsCorruption())
          << "frame " << f << " byte " << at << ": " << r.status.ToString();
      EXPECT_NE(r.status.message().find("log-000001.log at offset " + std::to_string(fs)),
                std::string::npos)
          << r.status.message();
      EXPECT_EQ(r.epochs.size(), static_cast<size_t>(f));
      Replayed p = Replay(kPointInTime);
      ASSERT_TRUE(p.status.ok()) << p.status.ToString();
      EXPECT_EQ(p.epochs.size(), static_cast<size_t>(f));
      EXPECT_EQ(p.stats.stop_reason, ReplayStopReason::kCorruptedFrame);
      EXPECT_TRUE(Replay(kAbsolute).status.IsCorruption());
    }
  }
  // The interesting case was exercised, and flips were checked.
  EXPECT_GT(images_with_hole_and_frames_after, 50u);
  EXPECT_GT(flips, 100u);
  std::printf("crash images with a hole followed by frames: %llu; proven bit flips: %llu\n",
              static_cast<unsigned long long>(images_with_hole_and_frames_after),
              static_cast<unsigned long long>(flips));
}

// The same property with the crash models of testutil's FaultInjectionEnv (each frame its own
// write, so kKeepRandomSubset reorders frames; torn models tear the last write at a sector).
TEST(LogReplayFaultEnvTest, CrashModelsNeverMakeReplayFailAndKeepSyncedFrames) {
  uint64_t holes = 0;
  for (testutil::CrashModel model :
       {testutil::CrashModel::kKeepRandomSubset, testutil::CrashModel::kTornLastWrite,
        testutil::CrashModel::kDropUnsynced}) {
    for (uint64_t seed = 1; seed <= 40; ++seed) {
      SCOPED_TRACE(std::string(testutil::CrashModelName(model)) + " seed " + std::to_string(seed));
      testutil::FaultInjectionEnv env;
      ASSERT_TRUE(env.CreateDir("/db").ok());
      ASSERT_TRUE(env.SyncDir("/").ok());
      testutil::DeterministicRng rng(seed);
      auto w = LogWriter::Create(&env, "/db", 1, testutil::ExampleLogOptions());
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      const int n = 30;
      LogPosition synced{1, kLogFileHeaderSize};
      int synced_frames = 0;
      for (int i = 0; i < n; ++i) {
        auto p = (*w)->Append(LogRecordType::kCommit, i, PaddedPayload(i, rng.Uniform(1200)));
        ASSERT_TRUE(p.ok());
        ASSERT_TRUE((*w)->Flush().ok());  // one write per frame
        if (rng.OneIn(5)) {
          ASSERT_TRUE((*w)->Sync(*p).ok());
          synced = *p;
          synced_frames = i + 1;
        }
      }
      w->reset();
      const testutil::CrashReport report = env.SimulateCrash(model, seed);
      SCOPED_TRACE(report.ToString());
      std::vector<uint64_t> epochs;
      ReplayStats stats;
      Status st = ReplayLog(
          &env, "/db", LogPosition{1, 0}, kDefault,
          [&](const LogRecord& rec) {
            epochs.push_back(rec.epoch);
            return Status::OK();
          },
          &stats);
      ASSERT_TRUE(st.ok()) << st.ToString();
      ASSERT_GE(epochs.size(), static_cast<size_t>(synced_frames));
      for (size_t i = 0; i < epochs.size(); ++i) ASSERT_EQ(epochs[i], i);
      EXPECT_GE(stats.end, synced);
      holes += stats.frames_dropped_after_hole > 0;
    }
  }
  EXPECT_GT(holes, 5u) << "kKeepRandomSubset never left a hole followed by a frame";
  std::printf("crash images with a hole followed by frames: %llu of 120\n",
              static_cast<unsigned long long>(holes));
}

}  // namespace
}  // namespace cowtree
