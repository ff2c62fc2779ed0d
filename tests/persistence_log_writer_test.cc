// Tests of LogWriter (persistence/log_writer.h): append/flush/sync positions, the
// synced_offset_bytes each frame records (per file, across rotation and reopen), the worked
// example of docs/log_format.md, reopen at the replay end (the preallocation pitfall),
// rotation, and Create/OpenForAppend refusals.
// Group commit and poisoning: persistence_log_writer_faults_test.cc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "persistence/file_names.h"
#include "persistence/log_reader.h"
#include "persistence/log_writer.h"
#include "testutil/test_files.h"

namespace cowtree {
namespace {

class LogWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cowtree_log_writer_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Path(uint64_t number) const { return JoinPath(dir_, LogFileName(number)); }
  uint64_t FileSize(uint64_t number) { return *env_->FileSize(Path(number)); }

  std::unique_ptr<LogWriter> Create(LogWriterOptions options = testutil::ExampleLogOptions(),
                                    Env* env = nullptr) {
    auto w = LogWriter::Create(env ? env : env_, dir_, 1, options);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w).value() : nullptr;
  }

  struct Replayed {
    std::vector<std::string> payloads;
    std::vector<LogRecord> records;  // payload views invalid after replay: use payloads
    ReplayStats stats;
    Status status;
  };
  Replayed Replay(LogPosition start = {1, 0},
                  WalRecoveryMode mode = WalRecoveryMode::kTolerateCorruptedTailRecords) {
    Replayed r;
    r.status = ReplayLog(
        env_, dir_, start, mode,
        [&r](const LogRecord& rec) {
          r.payloads.emplace_back(rec.payload);
          r.records.push_back(rec);
          return Status::OK();
        },
        &r.stats);
    return r;
  }

  static std::string Hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
    return out;
  }

  Env* env_ = Env::Default();
  std::string dir_;
};

TEST_F(LogWriterTest, AppendSyncReplayRoundTrip) {
  auto w = Create();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->end(), (LogPosition{1, kLogFileHeaderSize}));
  auto p1 = w->Append(LogRecordType::kCommit, 5, "first");
  auto p2 = w->Append(LogRecordType::kCatalog, 6, "");
  auto p3 = w->Append(LogRecordType::kOtDelta, 4, std::string(1000, 'x'));
  ASSERT_TRUE(p1.ok() && p2.ok() && p3.ok());
  EXPECT_EQ(*p1, (LogPosition{1, kLogFileHeaderSize + 33}));
  EXPECT_EQ(*p2, (LogPosition{1, kLogFileHeaderSize + 33 + 28}));
  EXPECT_EQ(w->written_end(), (LogPosition{1, kLogFileHeaderSize}));  // only buffered so far
  ASSERT_TRUE(w->Sync(*p3).ok());
  EXPECT_EQ(w->synced_end(), *p3);
  EXPECT_EQ(w->written_end(), *p3);
  // The leader wrote zeros ahead of its data (zero_fill_bytes, default 1 MiB): to the next
  // multiple of the step, plus one step.
  EXPECT_EQ(FileSize(1), 2u << 20);
  {
    Replayed z = Replay();
    ASSERT_TRUE(z.status.ok()) << z.status.ToString();
    EXPECT_EQ(z.payloads.size(), 3u);
    EXPECT_EQ(z.stats.stop_reason, ReplayStopReason::kZeroTail);
    EXPECT_EQ(z.stats.end, *p3);
    EXPECT_EQ(z.stats.dropped_bytes, (2u << 20) - p3->offset_bytes);
  }
  // Close cuts the zeros off: a cleanly closed log ends at its last frame.
  ASSERT_TRUE(w->Close().ok());
  EXPECT_EQ(FileSize(1), p3->offset_bytes);

  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.payloads.size(), 3u);
  EXPECT_EQ(r.payloads[0], "first");
  EXPECT_EQ(r.payloads[1], "");
  EXPECT_EQ(r.payloads[2], std::string(1000, 'x'));
  EXPECT_EQ(r.records[1].type, LogRecordType::kCatalog);
  EXPECT_EQ(r.records[2].epoch, 4u);
  EXPECT_EQ(r.records[0].start, (LogPosition{1, kLogFileHeaderSize}));
  EXPECT_EQ(r.records[0].end, *p1);
  EXPECT_EQ(r.records[2].end, *p3);
  EXPECT_EQ(r.stats.end, *p3);
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kCleanEnd);
  EXPECT_EQ(r.stats.records_read, 3u);
  EXPECT_EQ(r.stats.dropped_bytes, 0u);
  EXPECT_EQ(r.stats.last_file_number, 1u);
}

TEST_F(LogWriterTest, FlushWritesWithoutSyncThenSyncOnlySyncs) {
  auto w = Create();
  auto p = w->Append(LogRecordType::kCommit, 1, "abc");
  ASSERT_TRUE(w->Flush().ok());
  EXPECT_EQ(w->written_end(), *p);
  EXPECT_LT(w->synced_end(), *p);
  EXPECT_EQ(FileSize(1), p->offset_bytes);
  ASSERT_TRUE(w->Sync(*p).ok());
  EXPECT_EQ(w->synced_end(), *p);
  const LogWriterStats s = w->stats();
  EXPECT_EQ(s.writes, 1u);  // the Sync did not write again
  EXPECT_EQ(s.syncs, 1u);
  ASSERT_TRUE(w->Sync(*p).ok());  // already covered: no new fdatasync
  EXPECT_EQ(w->stats().syncs, 1u);
}

// The pitfall of DESIGN.md: a preallocated log reopened at its visible end must not append
// after a zero tail. With KEEP_SIZE the visible size is the logical end.
TEST_F(LogWriterTest, ReopenThenAppendThenReopenWithPreallocation) {
  LogWriterOptions options = testutil::ExampleLogOptions();
  options.preallocate_bytes = 1 << 20;
  auto w = Create(options);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(w->Append(LogRecordType::kCommit, i, "a").ok());
  ASSERT_TRUE(w->Close().ok());
  const LogPosition end1 = w->synced_end();
  w.reset();
  EXPECT_EQ(FileSize(1), end1.offset_bytes);  // preallocation did not move the visible end

  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.stats.end, end1);
  auto w2 = LogWriter::OpenForAppend(env_, dir_, r.stats.end, options);
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  for (int i = 10; i < 20; ++i) {
    ASSERT_TRUE((*w2)->Append(LogRecordType::kCommit, i, "b").ok());
  }
  ASSERT_TRUE((*w2)->Close().ok());

  r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.records.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(r.records[i].epoch, static_cast<uint64_t>(i));
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kCleanEnd);
}

// The pitfall again with the zero fill, which DOES move the visible size ahead of the data: a
// writer that syncs and then dies without Close (a crash) leaves zeros after its last frame.
// Replay stops there, OpenForAppend resumes at replay's end (not at the file's size) and cuts
// the zeros off, and records appended after the reopen follow the old ones with no gap.
TEST_F(LogWriterTest, ReopenAfterZeroFillThenAppendThenReopen) {
  LogWriterOptions options = testutil::ExampleLogOptions();
  options.zero_fill_bytes = 64 << 10;
  auto w = Create(options);
  LogPosition end1;
  for (int i = 0; i < 10; ++i) {
    auto p = w->Append(LogRecordType::kCommit, i, "a");
    ASSERT_TRUE(p.ok() && w->Sync(*p).ok());
    end1 = *p;
  }
  w.reset();  // no Close: the zeros stay
  EXPECT_EQ(FileSize(1), 128u << 10);

  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kZeroTail);
  ASSERT_EQ(r.stats.end, end1);
  auto w2 = LogWriter::OpenForAppend(env_, dir_, r.stats.end, options);
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_EQ(FileSize(1), end1.offset_bytes);
  for (int i = 10; i < 20; ++i) {
    auto p = (*w2)->Append(LogRecordType::kCommit, i, "b");
    ASSERT_TRUE(p.ok() && (*w2)->Sync(*p).ok());
  }
  EXPECT_EQ(FileSize(1), 128u << 10);  // filled again
  w2->reset();

  r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.records.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(r.records[i].epoch, static_cast<uint64_t>(i));
  EXPECT_EQ(r.records[10].start, end1);
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kZeroTail);
}

// The same pitfall when something DID extend the visible size with zeros (fallocate without
// KEEP_SIZE, or a size update that reached the disk without the data): replay reports a zero
// tail, OpenForAppend truncates it, and the next replay sees every record.
TEST_F(LogWriterTest, ZeroTailIsTruncatedBeforeAppending) {
  auto w = Create();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->Append(LogRecordType::kCommit, i, "x").ok());
  ASSERT_TRUE(w->Close().ok());
  const LogPosition end1 = w->synced_end();
  {
    auto f = env_->OpenFile(Path(1), OpenMode::kReadWrite);
    ASSERT_TRUE((*f)->Allocate(end1.offset_bytes, 65536, /*keep_size=*/false).ok());
  }
  EXPECT_EQ(FileSize(1), end1.offset_bytes + 65536);
  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kZeroTail);
  EXPECT_EQ(r.stats.dropped_bytes, 65536u);
  EXPECT_EQ(r.stats.end, end1);

  auto w2 = LogWriter::OpenForAppend(env_, dir_, r.stats.end, testutil::ExampleLogOptions());
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_EQ(FileSize(1), end1.offset_bytes);
  ASSERT_TRUE((*w2)->Append(LogRecordType::kCommit, 3, "y").ok());
  ASSERT_TRUE((*w2)->Close().ok());
  r = Replay();
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.records.size(), 4u);
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kCleanEnd);
}

TEST_F(LogWriterTest, TornTailIsTruncatedBeforeAppending) {
  auto w = Create();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->Append(LogRecordType::kCommit, i, "payload").ok());
  ASSERT_TRUE(w->Close().ok());
  {
    auto f = env_->OpenFile(Path(1), OpenMode::kReadWrite);
    ASSERT_TRUE((*f)->Truncate(FileSize(1) - 10).ok());  // tear the last frame
  }
  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.stats.stop_reason, ReplayStopReason::kTornTail);
  auto w2 = LogWriter::OpenForAppend(env_, dir_, r.stats.end, testutil::ExampleLogOptions());
  ASSERT_TRUE(w2.ok());
  ASSERT_TRUE((*w2)->Append(LogRecordType::kCommit, 9, "after").ok());
  ASSERT_TRUE((*w2)->Close().ok());
  r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.payloads.size(), 3u);
  EXPECT_EQ(r.payloads[2], "after");
}

TEST_F(LogWriterTest, RotationNeverSplitsARecord) {
  LogWriterOptions options = testutil::ExampleLogOptions();
  options.file_size_max_bytes = 1024;
  options.preallocate_bytes = 4096;
  auto w = Create(options);
  std::vector<LogPosition> ends;
  for (int i = 0; i < 100; ++i) {
    auto p =
        w->Append(LogRecordType::kCommit, i, std::string(100, static_cast<char>('a' + i % 26)));
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ends.push_back(*p);
    if (i % 7 == 0) {
      ASSERT_TRUE(w->Sync(*p).ok());
    }
  }
  // A record larger than the limit gets a file of its own.
  auto big = w->Append(LogRecordType::kOtDelta, 100, std::string(3000, 'B'));
  ASSERT_TRUE(big.ok());
  auto after = w->Append(LogRecordType::kCommit, 101, "after");
  ASSERT_TRUE(after.ok());
  ASSERT_TRUE(w->Close().ok());
  EXPECT_EQ(big->offset_bytes, kLogFileHeaderSize + FrameSizeBytes(3000));
  EXPECT_EQ(after->file_number, big->file_number + 1);

  const uint64_t last = after->file_number;
  EXPECT_GE(last, 10u);
  EXPECT_EQ(w->stats().files_created, last);
  for (uint64_t n = 1; n < big->file_number; ++n) EXPECT_LE(FileSize(n), 1024u) << n;

  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.records.size(), 102u);
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(r.records[i].end, ends[i]);
    EXPECT_EQ(r.records[i].start.file_number, r.records[i].end.file_number);
    EXPECT_EQ(r.records[i].epoch, i);
  }
  EXPECT_EQ(r.payloads[100], std::string(3000, 'B'));
  EXPECT_EQ(r.stats.end, *after);
  EXPECT_EQ(r.stats.last_file_number, last);

  // Replay from the middle of the chain.
  r = Replay(LogPosition{ends[50].file_number, 0});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.stats.end, *after);
  EXPECT_LT(r.records.size(), 102u);
}

// The worked example of docs/log_format.md: the whole file, byte for byte.
TEST_F(LogWriterTest, DocumentedExampleFile) {
  auto w = Create();
  auto p1 = w->Append(LogRecordType::kCommit, 7, "hello");
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(*p1, (LogPosition{1, 81}));
  ASSERT_TRUE(w->Sync(*p1).ok());
  auto p2 = w->Append(LogRecordType::kCommit, 8, "world");
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(*p2, (LogPosition{1, 114}));
  ASSERT_TRUE(w->Close().ok());
  std::string bytes;
  ASSERT_TRUE(env_->ReadFileToString(Path(1), &bytes).ok());
  EXPECT_EQ(Hex(bytes),
            // The hexdump of docs/log_format.md, 16 bytes a line:
            "4357544c4f4730310300000000000000"  // 00000000 header: magic, version 3
            "01000000000000000001020304050607"  // 00000010 file_number 1, store_id...
            "08090a0b0c0d0e0f0000000096ac05b5"  // 00000020 ...store_id, reserved, header crc
            "05000000010000000700000000000000"  // 00000030 frame @48: len 5, commit, epoch 7
            "300000000000000068656c6c6f38fe47"  // 00000040 synced 48, "hello", crc...
            "ba050000000100000008000000000000"  // 00000050 frame @81: len 5, commit, epoch 8
            "005100000000000000776f726c643e2d"  // 00000060 synced 81, "world", crc...
            "5860");                            // 00000070
}

// Each frame records the writer's synced end IN ITS OWN FILE when it was encoded: the header
// (synced by Create) at first, what Sync covered later, not what Flush only wrote; the new
// file's header after a rotation, never the previous file's offset; the truncated end after
// OpenForAppend.
TEST_F(LogWriterTest, FramesRecordTheSyncedEndOfTheirOwnFile) {
  LogWriterOptions options = testutil::ExampleLogOptions();
  options.file_size_max_bytes = 640;
  auto w = Create(options);
  std::vector<LogPosition> ends;
  std::vector<uint64_t> expected;
  auto append = [&](uint64_t epoch, size_t bytes) {
    auto p = w->Append(LogRecordType::kCommit, epoch, std::string(bytes, 'x'));
    ASSERT_TRUE(p.ok());
    ends.push_back(*p);
  };
  append(0, 10);  // synced end: the header
  expected.push_back(kLogFileHeaderSize);
  ASSERT_TRUE(w->Flush().ok());
  append(1, 10);  // flushed, not synced: still the header
  expected.push_back(kLogFileHeaderSize);
  ASSERT_TRUE(w->Sync(ends[1]).ok());
  append(2, 10);  // synced through frame 1
  expected.push_back(ends[1].offset_bytes);
  append(3, 10);  // Sync(frame 2) not called yet: still the end of frame 1
  expected.push_back(ends[1].offset_bytes);
  ASSERT_TRUE(w->Sync(ends[3]).ok());
  append(4, 450);  // rotates: file 2, whose header is synced; file 1's offset must not leak
  expected.push_back(kLogFileHeaderSize);
  ASSERT_EQ(ends[4].file_number, 2u);
  append(5, 10);
  expected.push_back(kLogFileHeaderSize);
  ASSERT_TRUE(w->Sync(ends[5]).ok());
  append(6, 10);
  expected.push_back(ends[5].offset_bytes);
  ASSERT_EQ(ends[6].file_number, 2u);
  ASSERT_TRUE(w->Flush().ok());
  w.reset();  // a crash after the flush: frame 6 is there (page cache) but was never synced

  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.records.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(r.records[i].synced_offset_bytes, expected[i]) << "frame " << i;
    EXPECT_LE(r.records[i].synced_offset_bytes, r.records[i].start.offset_bytes);
  }
  // Reopen in the middle of file 2 (as if replay had stopped after frame 5): the first frame
  // appended records the truncated end, which OpenForAppend made durable.
  auto w2 = LogWriter::OpenForAppend(env_, dir_, ends[5], options);
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_EQ(FileSize(2), ends[5].offset_bytes);
  EXPECT_EQ((*w2)->synced_end(), ends[5]);
  ASSERT_TRUE((*w2)->Append(LogRecordType::kCommit, 7, "x").ok());
  ASSERT_TRUE((*w2)->Close().ok());
  r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.records.size(), 7u);
  EXPECT_EQ(r.records[6].epoch, 7u);
  EXPECT_EQ(r.records[6].synced_offset_bytes, ends[5].offset_bytes);
}

TEST_F(LogWriterTest, ArgumentErrors) {
  auto w = Create();
  EXPECT_TRUE(w->Sync(LogPosition{1, 1000}).IsInvalidArgument());
  EXPECT_TRUE(w->Sync(LogPosition{2, 32}).IsInvalidArgument());
  std::string huge(static_cast<size_t>(kLogRecordPayloadMax) + 1, 'h');
  EXPECT_TRUE(w->Append(LogRecordType::kCommit, 1, huge).status().IsInvalidArgument());
  EXPECT_TRUE(w->Append(static_cast<LogRecordType>(9), 1, "x").status().IsInvalidArgument());
  ASSERT_TRUE(w->Close().ok());
  EXPECT_TRUE(w->Close().ok());
  EXPECT_TRUE(w->Append(LogRecordType::kCommit, 1, "x").status().IsInvalidArgument());
  EXPECT_TRUE(
      LogWriter::Create(env_, dir_, 0, testutil::ExampleLogOptions()).status().IsInvalidArgument());
}

TEST_F(LogWriterTest, CreateRefusesALiveFileButReplacesATornCreation) {
  auto w = Create();
  ASSERT_TRUE(w->Close().ok());
  auto again = LogWriter::Create(env_, dir_, 1, testutil::ExampleLogOptions());
  EXPECT_TRUE(again.status().IsInvalidArgument()) << again.status().ToString();
  // A crash inside Create can leave an empty or all-zero file: replaced.
  ASSERT_TRUE(env_->WriteStringToFileSync(Path(2), std::string(20, '\0')).ok());
  auto w2 = LogWriter::Create(env_, dir_, 2, testutil::ExampleLogOptions());
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_EQ(FileSize(2), kLogFileHeaderSize);
}

TEST_F(LogWriterTest, OpenForAppendHandlesTheNextFile) {
  auto w = Create();
  ASSERT_TRUE(w->Append(LogRecordType::kCommit, 1, "x").ok());
  ASSERT_TRUE(w->Close().ok());
  const LogPosition end = w->synced_end();
  // Leftover of a crashed rotation: deleted so that file 1 is the tail again.
  ASSERT_TRUE(env_->WriteStringToFileSync(Path(2), "").ok());
  Replayed r = Replay();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.stats.end, end);
  EXPECT_EQ(r.stats.last_file_number, 2u);
  auto w2 = LogWriter::OpenForAppend(env_, dir_, r.stats.end, testutil::ExampleLogOptions());
  ASSERT_TRUE(w2.ok()) << w2.status().ToString();
  EXPECT_FALSE(env_->FileExists(Path(2)));
  ASSERT_TRUE((*w2)->Close().ok());
  // A real file 2: appending to file 1 would leave a gap: refused.
  ASSERT_TRUE(LogWriter::Create(env_, dir_, 2, testutil::ExampleLogOptions()).ok());
  auto w3 = LogWriter::OpenForAppend(env_, dir_, end, testutil::ExampleLogOptions());
  EXPECT_TRUE(w3.status().IsInvalidArgument()) << w3.status().ToString();
  // Position past the end of the file; missing file; bad header.
  EXPECT_TRUE(
      LogWriter::OpenForAppend(env_, dir_, LogPosition{2, 999}, testutil::ExampleLogOptions())
          .status()
          .IsCorruption());
  EXPECT_TRUE(LogWriter::OpenForAppend(env_, dir_, LogPosition{7, 0}, testutil::ExampleLogOptions())
                  .status()
                  .IsNotFound());
  ASSERT_TRUE(env_->WriteStringToFileSync(Path(3), std::string(32, 'j')).ok());
  auto bad = LogWriter::OpenForAppend(env_, dir_, LogPosition{3, 0}, testutil::ExampleLogOptions());
  EXPECT_TRUE(bad.status().IsCorruption());
  EXPECT_NE(bad.status().message().find("log-000003.log"), std::string::npos);
}

}  // namespace
}  // namespace cowtree
