// Tests of ReplayLog's stop rules (persistence/log_reader.h) on damaged logs: a torn last
// frame cut at every byte, zero tails, bit flips followed by valid frames, damage in a file
// that is not the last, bad file headers, nonzero reserved bytes, torn log creation, and the
// three WalRecoveryModes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "persistence/coding.h"
#include "persistence/crc32c.h"
#include "persistence/file_names.h"
#include "persistence/log_reader.h"
#include "persistence/log_writer.h"

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
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Path(uint64_t number) const { return JoinPath(dir_, LogFileName(number)); }

  // Writes `count` records (payload "record-<i>", epoch i) with a writer that rotates at
  // file_size_max_bytes; returns each record's start position.
  std::vector<LogPosition> WriteRecords(int count, uint64_t file_size_max_bytes = 64 << 20) {
    LogWriterOptions options;
    options.file_size_max_bytes = file_size_max_bytes;
    auto w = LogWriter::Create(env_, dir_, 1, options);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    std::vector<LogPosition> starts;
    LogPosition prev = (*w)->end();
    for (int i = 0; i < count; ++i) {
      auto p = (*w)->Append(LogRecordType::kCommit, i, "record-" + std::to_string(i));
      EXPECT_TRUE(p.ok());
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
  void Write(uint64_t number, const std::string& bytes) {
    ASSERT_TRUE(env_->WriteStringToFileSync(Path(number), bytes).ok());
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
          EXPECT_EQ(rec.payload, "record-" + std::to_string(rec.epoch));
          r.epochs.push_back(rec.epoch);
          return Status::OK();
        },
        &r.stats);
    return r;
  }

  Env* env_ = Env::Default();
  std::string dir_;
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

// Bit rot in the middle of the log must not be mistaken for a torn tail.
TEST_F(LogReplayTest, BitFlipInAMiddleFrameFollowedByValidFrames) {
  const std::vector<LogPosition> starts = WriteRecords(5);
  const std::string full = Read(1);
  const uint64_t bad = starts[1].offset_bytes;
  for (uint64_t flip_at : {bad + 0, bad + 4, bad + 9, bad + 17, starts[2].offset_bytes - 1}) {
    std::string damaged = full;
    damaged[flip_at] ^= 0x01;
    Write(1, damaged);
    Replayed r = Replay(kDefault);
    ASSERT_TRUE(r.status.IsCorruption()) << flip_at << ": " << r.status.ToString();
    const std::string& m = r.status.message();
    EXPECT_NE(m.find("log-000001.log at offset " + std::to_string(bad)), std::string::npos) << m;
    EXPECT_NE(m.find("valid frame follows at offset " + std::to_string(starts[2].offset_bytes)),
              std::string::npos)
        << m;
    EXPECT_EQ(r.epochs.size(), 1u);  // records before the damage were delivered
    EXPECT_TRUE(Replay(kAbsolute).status.IsCorruption());

    Replayed p = Replay(kPointInTime);
    ASSERT_TRUE(p.status.ok()) << p.status.ToString();
    EXPECT_EQ(p.epochs.size(), 1u);
    EXPECT_EQ(p.stats.stop_reason, ReplayStopReason::kCorruptedFrame);
    EXPECT_EQ(p.stats.end, starts[1]);
    EXPECT_EQ(p.stats.dropped_bytes, full.size() - bad);
  }
}

// A flipped length that points past the end of the file looks "short", but valid frames
// follow: still corruption.
TEST_F(LogReplayTest, FlippedLengthInAMiddleFrameIsCorruption) {
  const std::vector<LogPosition> starts = WriteRecords(5);
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
    EXPECT_TRUE(LogWriter::OpenForAppend(env_, dir_, p.stats.end).status().IsInvalidArgument());
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
  Write(2, EncodeLogFileHeader(5));
  Replayed r = Replay(kDefault);
  ASSERT_TRUE(r.status.IsCorruption());
  EXPECT_NE(r.status.message().find("expected 2"), std::string::npos) << r.status.message();
  // A short header on the start file.
  Write(1, file1.substr(0, 20));
  EXPECT_TRUE(Replay(kDefault).status.IsCorruption());
}

// A frame whose CRC verifies but whose reserved bytes or type are wrong was written that way:
// never a torn write, so Corruption in every mode, even at the tail.
TEST_F(LogReplayTest, ReservedNonZeroIsCorruptionInEveryMode) {
  const std::vector<LogPosition> starts = WriteRecords(3);
  const std::string full = Read(1);
  for (size_t field : {kFrameReservedOffset, kFrameReservedOffset + 2, kFrameTypeOffset}) {
    std::string damaged = full;
    const uint64_t s = starts[2].offset_bytes;
    damaged[s + field] = field == kFrameTypeOffset ? 7 : 1;
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
    Write(3, EncodeLogFileHeader(3));
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
  EncodeFrame(LogRecordType::kCatalog, 1, "x", &bytes);
  EXPECT_EQ(FindNextValidFrame(bytes, 0), at);
  EXPECT_EQ(FindNextValidFrame(bytes, at + 1), std::string_view::npos);
  EXPECT_EQ(FindNextValidFrame(std::string(1000, '\0'), 0), std::string_view::npos);
}

}  // namespace
}  // namespace cowtree
