// FileWindow (persistence/file_window.h) against the file's bytes, and ReplayLog reading logs
// larger than the window: frames straddling window boundaries, frames larger than the window,
// a zero tail of several MiB, a torn frame and proven bit rot past the first window. The stop
// rules themselves are tested on small logs in persistence_log_replay_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "persistence/file_names.h"
#include "persistence/file_window.h"
#include "persistence/log_reader.h"
#include "persistence/log_writer.h"
#include "testutil/deterministic_rng.h"
#include "testutil/fault_injection_env.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

constexpr size_t kWindow = FileWindow::kWindowBytes;

class FileWindowTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env_.CreateDir("/db").ok()); }

  void WriteFile(const std::string& path, const std::string& bytes) {
    auto f = env_.OpenFile(path, OpenMode::kCreate);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->Truncate(0).ok());
    ASSERT_TRUE((*f)->WriteAt(0, bytes).ok());
  }
  std::string ReadFile(const std::string& path) {
    std::string bytes;
    EXPECT_TRUE(env_.ReadFileToString(path, &bytes).ok());
    return bytes;
  }

  testutil::FaultInjectionEnv env_;
};

TEST_F(FileWindowTest, ViewsEqualTheFileWhereverTheyStart) {
  std::string bytes(3 * kWindow + 12345, '\0');
  testutil::DeterministicRng rng(7);
  for (char& c : bytes) c = static_cast<char>(rng.Next() & 0xff);
  WriteFile("/db/f", bytes);
  auto file = env_.OpenFile("/db/f", OpenMode::kReadOnly);
  ASSERT_TRUE(file.ok());
  FileWindow window(file->get(), bytes.size());
  const std::vector<size_t> lengths = {
      1, 48, 4096, kWindow - 1, kWindow, kWindow + 7, 2 * kWindow + 100};
  size_t largest = 0;
  for (int i = 0; i < 2000; ++i) {
    // Mostly forward, as replay reads; sometimes backward, and near the end.
    const uint64_t offset =
        i % 7 == 0 ? bytes.size() - rng.Uniform(100) : rng.Uniform(bytes.size());
    const size_t length = lengths[rng.Uniform(lengths.size())];
    largest = std::max(largest, length);
    Result<std::string_view> view = window.View(offset, length);
    ASSERT_TRUE(view.ok()) << view.status().ToString();
    ASSERT_EQ(*view, std::string_view(bytes).substr(offset, length)) << offset << " " << length;
  }
  EXPECT_LE(window.buffer_bytes_max(), std::max(largest, kWindow));
  EXPECT_TRUE(window.View(bytes.size(), 10)->empty());
  EXPECT_TRUE(window.View(bytes.size() + 5, 10)->empty());
}

TEST_F(FileWindowTest, AllZeroFromLooksAtEveryByteToTheEnd) {
  const size_t zero_from = kWindow + 3;
  std::string bytes(zero_from, 'x');
  bytes.append(2 * kWindow + 9, '\0');
  WriteFile("/db/f", bytes);
  auto file = env_.OpenFile("/db/f", OpenMode::kReadOnly);
  ASSERT_TRUE(file.ok());
  FileWindow window(file->get(), bytes.size());
  EXPECT_TRUE(window.AllZeroFrom(zero_from).value());
  EXPECT_FALSE(window.AllZeroFrom(zero_from - 1).value());
  EXPECT_TRUE(window.AllZeroFrom(bytes.size()).value());
  EXPECT_LE(window.buffer_bytes_max(), kWindow);
  // One nonzero byte in the last window.
  bytes[bytes.size() - 2] = 1;
  WriteFile("/db/f", bytes);
  auto again = env_.OpenFile("/db/f", OpenMode::kReadOnly);
  FileWindow second(again->get(), bytes.size());
  EXPECT_FALSE(second.AllZeroFrom(zero_from).value());
  EXPECT_TRUE(second.AllZeroFrom(bytes.size() - 1).value());
}

// Payload of record i: "record-<i>|" and padding whose length depends on i; two records are
// larger than the window.
std::string PayloadOf(uint64_t i) {
  const size_t padding = i == 700 || i == 1900 ? 2 * kWindow + 4321 : (i * 2654435761u) % 5000;
  return "record-" + std::to_string(i) + "|" +
         std::string(padding, static_cast<char>('a' + i % 26));
}

class ReplayWindowTest : public FileWindowTest {
 protected:
  static constexpr uint64_t kRecords = 2500;

  // Writes kRecords records into log 1 (each fdatasync'd, so later frames prove earlier ones
  // durable); returns each record's start offset.
  std::vector<uint64_t> WriteLog() {
    auto w = LogWriter::Create(&env_, "/db", 1, testutil::ExampleLogOptions());
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    std::vector<uint64_t> starts;
    uint64_t end = (*w)->end().offset_bytes;
    for (uint64_t i = 0; i < kRecords; ++i) {
      starts.push_back(end);
      auto p = (*w)->Append(LogRecordType::kCommit, i, PayloadOf(i));
      EXPECT_TRUE(p.ok());
      EXPECT_EQ(p->file_number, 1u);  // one file: no rotation
      EXPECT_TRUE((*w)->Sync(*p).ok());
      end = p->offset_bytes;
    }
    EXPECT_TRUE((*w)->Close().ok());
    return starts;
  }

  struct Replayed {
    Status status;
    ReplayStats stats;
    uint64_t records = 0;
  };
  Replayed Replay() {
    Replayed r;
    r.status = ReplayLog(
        &env_, "/db", {1, 0}, WalRecoveryMode::kTolerateCorruptedTailRecords,
        [&r](const LogRecord& rec) {
          EXPECT_EQ(rec.epoch, r.records);
          EXPECT_EQ(rec.payload, PayloadOf(rec.epoch));
          r.records += 1;
          return Status::OK();
        },
        &r.stats);
    return r;
  }
  std::string Log() { return ReadFile(JoinPath("/db", LogFileName(1))); }
  void SetLog(const std::string& bytes) { WriteFile(JoinPath("/db", LogFileName(1)), bytes); }
};

TEST_F(ReplayWindowTest, ALogLargerThanTheWindowIsReadAFrameOrAWindowAtATime) {
  WriteLog();
  const std::string log = Log();
  ASSERT_GT(log.size(), 10 * kWindow);
  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.records, kRecords);
  EXPECT_EQ(r.stats.end, (LogPosition{1, log.size()}));
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kCleanEnd);
  // The largest frame (record 1900: 2 MiB of padding), not the file (~13 MiB).
  EXPECT_GE(r.stats.read_buffer_bytes_max, PayloadOf(1900).size());
  EXPECT_LE(r.stats.read_buffer_bytes_max, PayloadOf(1900).size() + kFrameOverheadBytes);

  // A preallocated tail of 5 MiB of zeros: checked a window at a time, dropped.
  SetLog(log + std::string(5 * kWindow, '\0'));
  r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.records, kRecords);
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kZeroTail);
  EXPECT_EQ(r.stats.dropped_bytes, 5 * kWindow);
  EXPECT_LE(r.stats.read_buffer_bytes_max, PayloadOf(1900).size() + kFrameOverheadBytes);
}

TEST_F(ReplayWindowTest, TornAndRottenFramesPastTheFirstWindow) {
  const std::vector<uint64_t> starts = WriteLog();
  const std::string log = Log();
  // The last frame cut at several points (it starts far past the first window).
  const uint64_t last = starts.back();
  ASSERT_GT(last, 4 * kWindow);
  for (uint64_t cut : {last + 1, last + 20, (last + log.size()) / 2, uint64_t{log.size() - 1}}) {
    SetLog(log.substr(0, cut));
    Replayed r = Replay();
    ASSERT_TRUE(r.status.ok()) << cut << ": " << r.status.ToString();
    EXPECT_EQ(r.records, kRecords - 1) << cut;
    EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kTornTail) << cut;
    EXPECT_EQ(r.stats.dropped_bytes, cut - last) << cut;
    EXPECT_EQ(r.stats.end, (LogPosition{1, last})) << cut;
  }
  // The large frame 1900 torn inside its payload: everything from it on is dropped.
  SetLog(log.substr(0, starts[1900] + kWindow + 17));
  Replayed torn = Replay();
  ASSERT_TRUE(torn.status.ok()) << torn.status.ToString();
  EXPECT_EQ(torn.records, 1900u);
  EXPECT_EQ(torn.stats.stop_reason, ReplayStopReason::kTornTail);
  // A bit flip in frame 1500 (past several windows): later synced frames prove it was durable.
  std::string rotten = log;
  const uint64_t at = starts[1500] + kFrameHeaderSize + 3;
  rotten[at] ^= 0x10;
  SetLog(rotten);
  Replayed r = Replay();
  ASSERT_TRUE(r.status.IsCorruption()) << r.status.ToString();
  EXPECT_NE(r.status.message().find("log-000001.log at offset " + std::to_string(starts[1500])),
            std::string::npos)
      << r.status.ToString();
  EXPECT_NE(r.status.message().find("bit rot"), std::string::npos) << r.status.ToString();
  EXPECT_EQ(r.records, 1500u);
}

}  // namespace
}  // namespace cowtree
