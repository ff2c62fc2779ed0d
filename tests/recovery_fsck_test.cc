// recovery::Fsck (docs/fsck.md): a clean store has no finding; each kind of damage is found and
// named (structure, file, offset or NodeID); non-repair fsck writes nothing; --repair fixes
// what it claims to and nothing else; and the bit-flip self-test of issue 3: >= 10 000 single-
// bit flips over every structure, each one in checksummed bytes detected by fsck, and queries
// after each flip either correct or refused — never a different value.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "persistence/coding.h"
#include "persistence/commit_record.h"
#include "persistence/file_names.h"
#include "persistence/log_format.h"
#include "persistence/log_reader.h"
#include "persistence/manifest.h"
#include "persistence/object_format.h"
#include "persistence/object_table.h"
#include "persistence/ot_checkpoint.h"
#include "persistence/ot_delta.h"
#include "persistence/size_class.h"
#include "persistence/superblock.h"
#include "recovery/fsck.h"
#include "recovery/fsck_context.h"
#include "recovery/open.h"
#include "testutil/fault_injection_env.h"
#include "testutil/live_objects.h"
#include "tree/node_format.h"
#include "tree/order_stat_tree.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::recovery {
namespace {

using testutil::FaultInjectionEnv;

// ---------------------------------------------------------------------------------------------
// Stores

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/cowtree-fsck-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

RuntimeOptions SmallOptions(Env* env) {
  RuntimeOptions o;
  o.env = env;
  o.leaf_capacity_entries = 8;
  o.fanout = 4;
  o.background_thread = false;
  o.checkpoint_on_close = false;
  o.create_if_missing = true;
  // Strict: every commit is fdatasync'd before the next frame is encoded, so each frame but the
  // last is proven durable by its successor's synced offset (log_reader.h): bit rot anywhere
  // but in the last frame is corruption, not a torn tail.
  o.durability = Durability::kStrict;
  return o;
}

// What `query` would print for every tree: N and percentile_disc/cont at a few p, ascending
// and descending. An error of any read (a leaf that fails to load) is returned as the Status.
Result<std::string> Answers(Runtime* rt) {
  RuntimeSnapshot snap = rt->GetSnapshot();
  std::string out;
  for (const TreeInfo& listed : rt->ListTrees(snap)) {
    COWTREE_ASSIGN_OR_RETURN(TreeInfo t, rt->FindTree(listed.name, snap));
    auto* host = tree::AsOrderStatTree(t.tree.get());
    if (host == nullptr) return Status::Corruption("not an order-statistics tree");
    auto v = host->VersionAt(snap.epoch());
    out += t.name + ": N=" + std::to_string(tree::PositiveCount(*v));
    for (double p : {0.0, 0.1, 0.5, 0.75, 1.0}) {
      for (bool desc : {false, true}) {
        COWTREE_ASSIGN_OR_RETURN(std::optional<uint64_t> d, tree::PercentileDisc(*v, p, desc));
        COWTREE_ASSIGN_OR_RETURN(std::optional<double> c, tree::PercentileCont(*v, p, desc));
        out += " " + (d ? std::to_string(*d) : std::string("null")) + "/" +
               (c ? std::to_string(*c) : std::string("null"));
      }
    }
    out += "\n";
  }
  return out;
}

// Opens, answers, closes. The error of Open or of a read is returned as the Status.
Result<std::string> OpenAndAnswer(Env* env, const std::string& dir) {
  RuntimeOptions o = SmallOptions(env);
  o.create_if_missing = false;
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<Runtime> rt, Open(dir, o));
  Result<std::string> answers = Answers(rt.get());
  COWTREE_RETURN_IF_ERROR(rt->Close());
  return answers;
}

void RandomOps(Runtime* rt, std::mt19937_64* rng, const std::vector<std::string>& names, int ops) {
  RuntimeWriteBatch batch(rt);
  RuntimeSnapshot snap = rt->GetSnapshot();
  std::map<std::string, TreeId> ids;
  for (const TreeInfo& t : rt->ListTrees(snap)) ids[t.name] = t.id;
  for (int i = 0; i < ops; ++i) {
    const std::string& name = names[(*rng)() % names.size()];
    auto it = ids.find(name);
    ASSERT_NE(it, ids.end()) << name;
    const int64_t key = static_cast<int64_t>((*rng)() % 200) - 100;
    int64_t w = static_cast<int64_t>((*rng)() % 5) - 1;
    if (w == 0) w = 2;
    const uint64_t code = name == "d" ? tree::EncodeDoubleKey(static_cast<double>(key) / 4)
                                      : tree::EncodeInt64Key(key);
    tree::AppendOrderStatOp(batch.MutableOps(it->second), code, w);
  }
  ASSERT_TRUE(rt->Commit(batch).ok());
}

struct BuiltStore {
  std::string answers;              // after the last commit
  std::string answers_before_last;  // without the last commit (the last log frame)
};

// Trees a, b, c (int64) and d (double, dropped later) and e (created later); three
// checkpoints (the first writes the OT checkpoint, the next two log OT deltas), redo records
// past the last checkpoint, no checkpoint on close: the log holds history frames, applied OT
// deltas, skipped commits and replayed commits.
BuiltStore Build(Env* env, const std::string& dir, uint64_t seed = 7) {
  BuiltStore out;
  std::mt19937_64 rng(seed);
  auto rt = Open(dir, SmallOptions(env));
  EXPECT_TRUE(rt.ok()) << rt.status().ToString();
  if (!rt.ok()) return out;
  Runtime* r = rt->get();
  {
    RuntimeWriteBatch batch(r);
    for (const char* name : {"a", "b", "c"}) {
      TreeId id =
          batch.CreateTree(name, tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
      for (int k = 0; k < 40; ++k)
        tree::AppendOrderStatOp(batch.MutableOps(id), tree::EncodeInt64Key(k * 3), 1 + k % 3);
    }
    TreeId d =
        batch.CreateTree("d", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kDouble));
    for (int k = 0; k < 30; ++k)
      tree::AppendOrderStatOp(batch.MutableOps(d), tree::EncodeDoubleKey(k * 0.5), 1);
    EXPECT_TRUE(r->Commit(batch).ok());
  }
  EXPECT_TRUE(r->Checkpoint().ok());
  for (int i = 0; i < 8; ++i) RandomOps(r, &rng, {"a", "b", "c", "d"}, 12);
  EXPECT_TRUE(r->Checkpoint().ok());
  {
    RuntimeWriteBatch batch(r);
    RuntimeSnapshot snap = r->GetSnapshot();
    for (const TreeInfo& t : r->ListTrees(snap)) {
      if (t.name == "d") batch.DropTree(t.id);
    }
    TreeId e =
        batch.CreateTree("e", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    for (int k = 0; k < 20; ++k) tree::AppendOrderStatOp(batch.MutableOps(e), tree::EncodeInt64Key(-k), 2);
    EXPECT_TRUE(r->Commit(batch).ok());
  }
  for (int i = 0; i < 5; ++i) RandomOps(r, &rng, {"a", "b", "c", "e"}, 10);
  EXPECT_TRUE(r->Checkpoint().ok());
  for (int i = 0; i < 4; ++i) RandomOps(r, &rng, {"a", "b", "c", "e"}, 8);
  out.answers_before_last = Answers(r).value();
  RandomOps(r, &rng, {"a", "b", "c", "e"}, 8);
  out.answers = Answers(r).value();
  EXPECT_TRUE(r->Close().ok());
  rt->reset();
  auto reopened = OpenAndAnswer(env, dir);
  EXPECT_TRUE(reopened.ok()) << reopened.status().ToString();
  if (reopened.ok()) {
    EXPECT_EQ(*reopened, out.answers);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Inspection and damage helpers (through the Env, so they work on both Envs)

// Opens (creating) the store at dir and commits the creation of int64 trees `names`; null
// (with a test failure) if that fails.
std::unique_ptr<Runtime> OpenWithInt64Trees(const std::string& dir, const RuntimeOptions& o,
                                            std::initializer_list<const char*> names) {
  auto rt = Open(dir, o);
  EXPECT_TRUE(rt.ok()) << rt.status().ToString();
  if (!rt.ok()) return nullptr;
  RuntimeWriteBatch b(rt->get());
  for (const char* name : names) {
    b.CreateTree(name, tree::kOrderStatTreeTypeId,
                 tree::OrderStatTreeParams(tree::KeyType::kInt64));
  }
  const Status st = (*rt)->Commit(b);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return st.ok() ? std::move(*rt) : nullptr;
}

// Where the last frame of a log file's bytes starts (its header's length, 48, if none), walking
// the frames from the file header up to the end or to the zero fill ahead of it; *end receives
// the offset just past that frame.
uint64_t LastFrameStart(const std::string& bytes, uint64_t* end) {
  uint64_t at = kLogFileHeaderSize;
  uint64_t last = kLogFileHeaderSize;
  while (at + kFrameOverheadBytes <= bytes.size()) {
    uint32_t length = 0;
    std::memcpy(&length, bytes.data() + at, 4);
    if (length == 0 && bytes[at + 4] == 0) break;  // the zero fill ahead of the end
    last = at;
    at += kFrameOverheadBytes + length;
  }
  *end = at;
  return last;
}

FsckReport RunFsck(Env* env, const std::string& dir, bool repair = false) {
  FsckOptions o;
  o.env = env;
  o.repair = repair;
  auto r = Fsck(dir, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : FsckReport();
}

std::string Describe(const FsckReport& r) {
  std::string s;
  for (const FsckFinding& f : r.findings) s += FormatFinding(f) + "\n";
  return s;
}

const FsckFinding* FindFinding(const FsckReport& r, FsckSeverity severity,
                               const std::string& structure, const std::string& needle = "") {
  for (const FsckFinding& f : r.findings) {
    if (f.severity == severity && f.structure == structure &&
        f.message.find(needle) != std::string::npos) {
      return &f;
    }
  }
  return nullptr;
}

std::string ReadAll(Env* env, const std::string& path) {
  std::string s;
  EXPECT_TRUE(env->ReadFileToString(path, &s).ok()) << path;
  return s;
}

// Every file of `dir` by name, with its bytes.
std::map<std::string, std::string> DirImage(Env* env, const std::string& dir) {
  std::vector<std::string> names;
  EXPECT_TRUE(env->ListDir(dir, &names).ok());
  std::map<std::string, std::string> image;
  for (const std::string& n : names) image[n] = ReadAll(env, JoinPath(dir, n));
  return image;
}

void WriteAt(Env* env, const std::string& path, uint64_t offset, std::string_view bytes) {
  auto f = env->OpenFile(path, OpenMode::kCreate);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->WriteAt(offset, bytes).ok());
  ASSERT_TRUE((*f)->Sync().ok());
}

void FlipBitVia(Env* env, const std::string& path, uint64_t offset, int bit) {
  auto f = env->OpenFile(path, OpenMode::kReadWrite);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  char c = 0;
  size_t got = 0;
  ASSERT_TRUE((*f)->ReadAt(offset, 1, &c, &got).ok());
  ASSERT_EQ(got, 1u);
  c = static_cast<char>(c ^ (1 << bit));
  ASSERT_TRUE((*f)->WriteAt(offset, std::string_view(&c, 1)).ok());
  ASSERT_TRUE((*f)->Sync().ok());
}

SuperblockData Superblock(Env* env, const std::string& dir) {
  auto sb = ReadSuperblock(env, dir);
  EXPECT_TRUE(sb.ok()) << sb.status().ToString();
  return sb.ok() ? sb->newest : SuperblockData();
}

// The live OT entries as recovery rebuilds them (fsck's own passes).
using testutil::LiveObjects;

const OtRecord* FirstOfKind(const std::vector<OtRecord>& live, ObjectKind kind) {
  for (const OtRecord& r : live) {
    if (r.entry.kind == kind) return &r;
  }
  return nullptr;
}

// An OT-delta upsert of `id` carrying `from`'s entry (a crafted record).
OtDeltaOp UpsertWithEntryOf(NodeID id, const OtRecord& from) {
  OtDeltaOp op;
  op.type = OtDeltaOp::kUpsert;
  op.id = id;
  op.entry = from.entry;
  return op;
}

struct Frame {
  LogPosition start, end;
  LogRecordType type;
  uint64_t epoch;
};

// Every frame of the log, from the first file.
std::vector<Frame> Frames(Env* env, const std::string& dir) {
  std::vector<Frame> frames;
  ReplayStats stats;
  Status st = ReplayLog(
      env, dir, LogPosition{1, 0}, WalRecoveryMode::kPointInTimeRecovery,
      [&](const LogRecord& r) {
        frames.push_back(Frame{r.start, r.end, r.type, r.epoch});
        return Status::OK();
      },
      &stats);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return frames;
}

uint64_t LastLogNumber(Env* env, const std::string& dir) {
  std::vector<std::string> names;
  EXPECT_TRUE(env->ListDir(dir, &names).ok());
  uint64_t last = 0;
  for (const std::string& n : names) {
    FileKind kind;
    uint64_t number = 0;
    if (ParseFileName(n, &kind, &number) && kind == FileKind::kLog) last = std::max(last, number);
  }
  return last;
}

void AppendFrame(Env* env, const std::string& dir, LogRecordType type, uint64_t epoch,
                 std::string_view payload) {
  const std::string path = JoinPath(dir, LogFileName(LastLogNumber(env, dir)));
  auto size = env->FileSize(path);
  ASSERT_TRUE(size.ok());
  std::string frame;
  EncodeFrame(type, epoch, /*synced_offset_bytes=*/0, payload, &frame);
  WriteAt(env, path, *size, frame);
}

void AppendOtDelta(Env* env, const std::string& dir, const std::vector<OtDeltaOp>& ops) {
  AppendFrame(env, dir, LogRecordType::kOtDelta, Superblock(env, dir).checkpoint_epoch,
              EncodeOtDelta(ops));
}

// ---------------------------------------------------------------------------------------------
// Fixture: each test runs on the in-memory fault-injecting Env and on the POSIX Env.

enum class EnvKind { kFaultInjection, kPosix };

class FsckTest : public ::testing::TestWithParam<EnvKind> {
 protected:
  void SetUp() override {
    if (GetParam() == EnvKind::kFaultInjection) {
      fault_env_ = std::make_unique<FaultInjectionEnv>();
      env_ = fault_env_.get();
      dir_ = "/db";
    } else {
      tmp_ = std::make_unique<TempDir>();
      env_ = Env::Default();
      dir_ = tmp_->path() + "/db";
    }
    built_ = Build(env_, dir_);
  }
  std::string Path(const std::string& name) const { return JoinPath(dir_, name); }

  // Appends `tail` to the last log file, expects one log finding of `severity` at the old end
  // whose message contains `says`, exit 0; then --repair truncates the tail (exit 1), the next
  // check is clean and the store answers as built.
  void ExpectLogTailFindingAndRepair(const std::string& tail, FsckSeverity severity,
                                     const std::string& says) {
    const std::string log = Path(LogFileName(LastLogNumber(env_, dir_)));
    const uint64_t size = env_->FileSize(log).value();
    WriteAt(env_, log, size, tail);
    FsckReport r = RunFsck(env_, dir_);
    ASSERT_EQ(r.findings.size(), 1u) << Describe(r);
    const FsckFinding& f = r.findings[0];
    EXPECT_EQ(f.severity, severity);
    EXPECT_EQ(f.structure, "log");
    EXPECT_EQ(f.offset_bytes, size);
    EXPECT_NE(f.message.find(says), std::string::npos) << f.message;
    EXPECT_EQ(r.log_bytes_dropped, tail.size());
    EXPECT_EQ(r.ExitCode(), 0);
    FsckReport repaired = RunFsck(env_, dir_, /*repair=*/true);
    EXPECT_EQ(repaired.ExitCode(), 1) << Describe(repaired);
    EXPECT_TRUE(repaired.findings[0].repaired);
    EXPECT_EQ(env_->FileSize(log).value(), size);
    EXPECT_TRUE(RunFsck(env_, dir_).findings.empty());
    EXPECT_EQ(OpenAndAnswer(env_, dir_).value(), built_.answers);
  }

  std::unique_ptr<FaultInjectionEnv> fault_env_;
  std::unique_ptr<TempDir> tmp_;
  Env* env_ = nullptr;
  std::string dir_;
  BuiltStore built_;
};

INSTANTIATE_TEST_SUITE_P(Envs, FsckTest,
                         ::testing::Values(EnvKind::kFaultInjection, EnvKind::kPosix),
                         [](const auto& info) {
                           return info.param == EnvKind::kFaultInjection ? "FaultInjectionEnv"
                                                                         : "PosixEnv";
                         });

TEST_P(FsckTest, CleanStoreHasNoFindings) {
  FsckReport r = RunFsck(env_, dir_);
  EXPECT_TRUE(r.findings.empty()) << Describe(r);
  EXPECT_EQ(r.ExitCode(), 0);
  EXPECT_EQ(r.trees_checked, 4u);  // a, b, c, e
  EXPECT_GT(r.leaves_checked, 10u);
  EXPECT_EQ(r.objects_checked, r.ot_entries);
  EXPECT_GT(r.log_frames_checked, 10u);
  EXPECT_EQ(r.commits_past_checkpoint, 5u);
  // A second run finds the same (nothing was changed).
  EXPECT_TRUE(RunFsck(env_, dir_).findings.empty());
}

TEST_P(FsckTest, OlderSuperblockCopyCorruptIsAWarningNamingTheCopy) {
  const SuperblockData sb = Superblock(env_, dir_);
  const size_t older = ((sb.generation + 1) % 2) * kSuperblockCopiesPerGeneration;
  FlipBitVia(env_, Path(kSuperblockFileName), older * kSuperblockCopySize + 100, 3);
  FsckReport r = RunFsck(env_, dir_);
  ASSERT_EQ(r.findings.size(), 1u) << Describe(r);
  const FsckFinding& f = r.findings[0];
  EXPECT_EQ(f.severity, FsckSeverity::kWarning);
  EXPECT_EQ(f.structure, "superblock");
  EXPECT_EQ(f.file, kSuperblockFileName);
  EXPECT_EQ(f.offset_bytes, older * kSuperblockCopySize);
  EXPECT_NE(f.message.find("copy " + std::to_string(older)), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("older"), std::string::npos) << f.message;
  EXPECT_EQ(r.ExitCode(), 0);
  // Repair rewrites the bad copy (as the next generation); then the store is clean.
  FsckReport repaired = RunFsck(env_, dir_, /*repair=*/true);
  EXPECT_EQ(repaired.ExitCode(), 1) << Describe(repaired);
  EXPECT_TRUE(RunFsck(env_, dir_).findings.empty());
  EXPECT_EQ(OpenAndAnswer(env_, dir_).value(), built_.answers);
}

// One copy of the newest generation rotted: its twin is used, nothing is lost (issue 6 item 14).
TEST_P(FsckTest, NewestSuperblockCopyCorruptItsTwinIsUsed) {
  const SuperblockData sb = Superblock(env_, dir_);
  const size_t newest = (sb.generation % 2) * kSuperblockCopiesPerGeneration;
  FlipBitVia(env_, Path(kSuperblockFileName), newest * kSuperblockCopySize + kSbCatalogRootOffset,
             0);
  FsckReport r = RunFsck(env_, dir_);
  ASSERT_EQ(r.findings.size(), 1u) << Describe(r);
  const FsckFinding& f = r.findings[0];
  EXPECT_EQ(f.severity, FsckSeverity::kWarning);
  EXPECT_EQ(f.offset_bytes, newest * kSuperblockCopySize);
  EXPECT_NE(f.message.find("recovery uses copy " + std::to_string(newest + 1) + " (generation " +
                           std::to_string(sb.generation) + ")"),
            std::string::npos)
      << f.message;
  EXPECT_NE(f.message.find("twin"), std::string::npos) << f.message;
  EXPECT_EQ(r.ExitCode(), 0);
  EXPECT_EQ(OpenAndAnswer(env_, dir_).value(), built_.answers);
}

// Both copies of the newest generation rotted (or their writes were torn): recovery falls back
// to the older pair. That is safe as long as everything the older checkpoint references is
// intact — its objects are overwritten only by the checkpoint after the newest, which would
// overwrite this pair first — and the log from its replay position still exists: fsck
// verifies exactly that.
TEST_P(FsckTest, NewestSuperblockPairCorruptFallsBackAndNamesTheCopies) {
  const SuperblockData sb = Superblock(env_, dir_);
  const size_t newest = (sb.generation % 2) * kSuperblockCopiesPerGeneration;
  for (size_t i = 0; i < kSuperblockCopiesPerGeneration; ++i) {
    FlipBitVia(env_, Path(kSuperblockFileName),
               (newest + i) * kSuperblockCopySize + kSbCatalogRootOffset, 0);
  }
  FsckReport r = RunFsck(env_, dir_);
  ASSERT_EQ(r.findings.size(), 2u) << Describe(r);
  const size_t older = ((sb.generation + 1) % 2) * kSuperblockCopiesPerGeneration;
  for (const FsckFinding& f : r.findings) {
    EXPECT_EQ(f.severity, FsckSeverity::kWarning);
    EXPECT_NE(f.message.find("(generation " + std::to_string(sb.generation - 1) + ")"),
              std::string::npos)
        << f.message;
    EXPECT_NE(f.message.find("recovery uses copy " + std::to_string(older)), std::string::npos)
        << f.message;
    EXPECT_NE(f.message.find("newer"), std::string::npos) << f.message;
  }
  EXPECT_EQ(r.ExitCode(), 0);
  // Recovery from the older checkpoint replays the redo since then: same answers.
  EXPECT_EQ(OpenAndAnswer(env_, dir_).value(), built_.answers);
}

TEST_P(FsckTest, AllSuperblockCopiesBadIsAnError) {
  for (size_t i = 0; i < kSuperblockCopies; ++i) {
    FlipBitVia(env_, Path(kSuperblockFileName), i * kSuperblockCopySize + 20, 1);
  }
  FsckReport r = RunFsck(env_, dir_);
  EXPECT_EQ(r.ExitCode(), 4);
  for (size_t i = 0; i < kSuperblockCopies; ++i) {
    ASSERT_NE(FindFinding(r, FsckSeverity::kError, "superblock", "copy " + std::to_string(i)),
              nullptr)
        << Describe(r);
  }
  EXPECT_NE(FindFinding(r, FsckSeverity::kError, "superblock", "no superblock copy verifies"),
            nullptr);
  // Repair cannot invent a commit point.
  FsckReport again = RunFsck(env_, dir_, /*repair=*/true);
  EXPECT_EQ(again.ExitCode(), 4);
}

TEST_P(FsckTest, ManifestBadCrc) {
  const std::string name = ManifestFileName(Superblock(env_, dir_).manifest_generation);
  FlipBitVia(env_, Path(name), 40, 2);
  FsckReport r = RunFsck(env_, dir_);
  const FsckFinding* f = FindFinding(r, FsckSeverity::kError, "manifest");
  ASSERT_NE(f, nullptr) << Describe(r);
  EXPECT_EQ(f->file, name);
  EXPECT_EQ(r.ExitCode(), 4);
}

TEST_P(FsckTest, ManifestListsAMissingFile) {
  const SuperblockData sb = Superblock(env_, dir_);
  auto m = ReadManifest(env_, dir_, sb.manifest_generation);
  ASSERT_TRUE(m.ok());
  m->data_files.push_back(ManifestDataFile{DataFileName(16384), 16384, 1 << 20});
  std::sort(m->data_files.begin(), m->data_files.end(),
            [](const auto& a, const auto& b) { return a.size_class_bytes < b.size_class_bytes; });
  const std::string name = ManifestFileName(sb.manifest_generation);
  const std::string bytes = EncodeManifest(*m);
  auto f = env_->OpenFile(Path(name), OpenMode::kReadWrite);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Truncate(0).ok());
  ASSERT_TRUE((*f)->WriteAt(0, bytes).ok());
  ASSERT_TRUE((*f)->Sync().ok());
  FsckReport r = RunFsck(env_, dir_);
  const FsckFinding* finding = FindFinding(r, FsckSeverity::kError, "manifest", "data-16k.dat");
  ASSERT_NE(finding, nullptr) << Describe(r);
  EXPECT_EQ(finding->file, name);
  EXPECT_EQ(r.ExitCode(), 4);
}

TEST_P(FsckTest, UnknownFileIsAWarningAndNeverDeleted) {
  WriteAt(env_, Path("notes.txt"), 0, "not ours");
  FsckReport r = RunFsck(env_, dir_);
  ASSERT_EQ(r.findings.size(), 1u) << Describe(r);
  EXPECT_EQ(r.findings[0].severity, FsckSeverity::kWarning);
  EXPECT_EQ(r.findings[0].file, "notes.txt");
  EXPECT_EQ(r.ExitCode(), 0);
  EXPECT_EQ(RunFsck(env_, dir_, /*repair=*/true).ExitCode(), 0);
  EXPECT_TRUE(env_->FileExists(Path("notes.txt")));
}

TEST_P(FsckTest, LeftoversAreInfoAndRepairDeletesThem) {
  WriteAt(env_, Path(TempFileName(ManifestFileName(99))), 0, "{");
  WriteAt(env_, Path(OtCheckpointFileName(99)), 0, "partial");
  FsckReport r = RunFsck(env_, dir_);
  EXPECT_EQ(r.infos(), 2u) << Describe(r);
  EXPECT_EQ(r.errors() + r.warnings(), 0u) << Describe(r);
  EXPECT_EQ(r.ExitCode(), 0);
  FsckReport repaired = RunFsck(env_, dir_, /*repair=*/true);
  EXPECT_EQ(repaired.ExitCode(), 1) << Describe(repaired);
  EXPECT_FALSE(env_->FileExists(Path(OtCheckpointFileName(99))));
  EXPECT_TRUE(RunFsck(env_, dir_).findings.empty());
}

TEST_P(FsckTest, OtCheckpointBadCrc) {
  const std::string name = OtCheckpointFileName(Superblock(env_, dir_).ot_checkpoint_id);
  FlipBitVia(env_, Path(name), 64 + 48 + 9, 4);  // inside the second record
  FsckReport r = RunFsck(env_, dir_);
  const FsckFinding* f = FindFinding(r, FsckSeverity::kError, "ot-checkpoint");
  ASSERT_NE(f, nullptr) << Describe(r);
  EXPECT_EQ(f->file, name);
  EXPECT_EQ(r.ExitCode(), 4);
}

TEST_P(FsckTest, LogBitFlipFollowedByValidFramesIsCorruption) {
  const SuperblockData sb = Superblock(env_, dir_);
  const LogPosition replay{sb.log_replay_file_number, sb.log_replay_offset_bytes};
  std::vector<Frame> frames = Frames(env_, dir_);
  std::vector<Frame> replayed;
  for (const Frame& fr : frames) {
    if (!(fr.start < replay)) replayed.push_back(fr);
  }
  ASSERT_GE(replayed.size(), 3u);
  const Frame& victim = replayed[replayed.size() - 3];  // valid frames follow it
  FlipBitVia(env_, Path(LogFileName(victim.start.file_number)), victim.start.offset_bytes + 30, 5);
  FsckReport r = RunFsck(env_, dir_);
  const FsckFinding* f = FindFinding(r, FsckSeverity::kError, "log");
  ASSERT_NE(f, nullptr) << Describe(r);
  EXPECT_EQ(f->file, LogFileName(victim.start.file_number));
  EXPECT_EQ(f->offset_bytes, victim.start.offset_bytes);
  EXPECT_EQ(r.ExitCode(), 4);
  EXPECT_EQ(RunFsck(env_, dir_, /*repair=*/true).ExitCode(), 4);  // not a tail: not truncated
  EXPECT_TRUE(OpenAndAnswer(env_, dir_).status().IsCorruption());
}

TEST_P(FsckTest, LogBitFlipBeforeTheReplayPositionIsAWarning) {
  const SuperblockData sb = Superblock(env_, dir_);
  std::vector<Frame> frames = Frames(env_, dir_);
  ASSERT_GT(sb.log_replay_offset_bytes, frames[1].start.offset_bytes);
  FlipBitVia(env_, Path(LogFileName(frames[1].start.file_number)),
             frames[1].start.offset_bytes + 40, 0);
  FsckReport r = RunFsck(env_, dir_);
  ASSERT_EQ(r.findings.size(), 1u) << Describe(r);
  EXPECT_EQ(r.findings[0].severity, FsckSeverity::kWarning);
  EXPECT_EQ(r.findings[0].structure, "log");
  EXPECT_EQ(r.findings[0].offset_bytes, frames[1].start.offset_bytes);
  EXPECT_EQ(OpenAndAnswer(env_, dir_).value(), built_.answers);
}

TEST_P(FsckTest, TornLogTailIsAWarningAndRepairTruncatesIt) {
  ExpectLogTailFindingAndRepair(std::string(700, '\x5a'), FsckSeverity::kWarning,
                                "torn tail: 700 bytes");
}

// Zeros after the last frame (what the log's zero fill leaves after a crash): a note, not a
// warning; --repair truncates them like a torn tail.
TEST_P(FsckTest, ZeroLogTailIsANote) {
  ExpectLogTailFindingAndRepair(std::string(4096, '\0'), FsckSeverity::kInfo,
                                "zero tail: 4096 bytes");
}

// One object of each kind: a flipped body bit is an "object" error naming the data file, the
// slot offset and the NodeID.
TEST_P(FsckTest, ObjectBodyFlipOfEveryKind) {
  const std::vector<OtRecord> live = LiveObjects(env_, dir_);
  for (ObjectKind kind : {ObjectKind::kLeaf, ObjectKind::kSummaryChunk, ObjectKind::kTreeDescriptor,
                          ObjectKind::kCatalogChunk, ObjectKind::kCatalogRoot}) {
    SCOPED_TRACE(static_cast<int>(kind));
    const OtRecord* victim = FirstOfKind(live, kind);
    ASSERT_NE(victim, nullptr);
    const std::string file = DataFileName(victim->entry.address.size_class_bytes);
    const uint64_t at = victim->entry.address.offset_bytes + kObjectHeaderBytes + 9;
    FlipBitVia(env_, Path(file), at, 6);
    FsckReport r = RunFsck(env_, dir_);
    const FsckFinding* f = FindFinding(r, FsckSeverity::kError, "object");
    ASSERT_NE(f, nullptr) << Describe(r);
    EXPECT_EQ(f->file, file);
    EXPECT_EQ(f->offset_bytes, victim->entry.address.offset_bytes);
    EXPECT_EQ(f->node_id, victim->id.raw());
    EXPECT_EQ(r.ExitCode(), 4);
    if (kind != ObjectKind::kLeaf) {
      EXPECT_TRUE(OpenAndAnswer(env_, dir_).status().IsCorruption());
    } else {
      auto answers = OpenAndAnswer(env_, dir_);  // lazily loaded: correct or Corruption
      if (answers.ok()) {
        EXPECT_EQ(*answers, built_.answers);
      }
    }
    FlipBitVia(env_, Path(file), at, 6);
    EXPECT_TRUE(RunFsck(env_, dir_).findings.empty());
  }
}

TEST_P(FsckTest, OverlappingOtEntriesNameBothNodeIds) {
  const std::vector<OtRecord> live = LiveObjects(env_, dir_);
  const OtRecord* leaf = FirstOfKind(live, ObjectKind::kLeaf);
  ASSERT_NE(leaf, nullptr);
  OtDeltaOp op = UpsertWithEntryOf(NodeID::Make(5000, 1), *leaf);
  AppendOtDelta(env_, dir_, {op});
  FsckReport r = RunFsck(env_, dir_);
  const FsckFinding* f = FindFinding(r, FsckSeverity::kError, "allocator", "overlap");
  ASSERT_NE(f, nullptr) << Describe(r);
  EXPECT_NE(f->message.find(DescribeNodeId(leaf->id)), std::string::npos) << f->message;
  EXPECT_NE(f->message.find(DescribeNodeId(op.id)), std::string::npos) << f->message;
  EXPECT_EQ(f->offset_bytes, leaf->entry.address.offset_bytes);
  EXPECT_EQ(r.ExitCode(), 4);
  EXPECT_TRUE(OpenAndAnswer(env_, dir_).status().IsCorruption());
}

// Appends an OT delta upserting `op` into the store of `dir`, then expects fsck to report an
// allocator error containing `needle` (exit 4) and Open to refuse the store with a Corruption
// containing it too.
void ExpectCraftedEntryRefused(Env* env, const std::string& dir, const OtDeltaOp& op,
                               const std::string& needle) {
  AppendOtDelta(env, dir, {op});
  FsckReport r = RunFsck(env, dir);
  ASSERT_NE(FindFinding(r, FsckSeverity::kError, "allocator", needle), nullptr) << Describe(r);
  EXPECT_EQ(r.ExitCode(), 4);
  const auto opened = OpenAndAnswer(env, dir);
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(opened.status().IsCorruption()) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find(needle), std::string::npos)
      << opened.status().ToString();
}

// An entry whose offset is near 2^64: `offset + size class` wrapped to a small number, so the
// end-of-file checks passed, fsck aborted on an assertion and Open wrote far outside its
// free-space bitmap (SIGSEGV; adversarial round 16). Now past the end of the file, for both.
TEST_P(FsckTest, AnOffsetNearTwoToTheSixtyFourIsPastTheEndNotACrash) {
  const std::vector<OtRecord> live = LiveObjects(env_, dir_);
  const OtRecord* leaf = FirstOfKind(live, ObjectKind::kLeaf);
  ASSERT_NE(leaf, nullptr);
  OtDeltaOp op = UpsertWithEntryOf(NodeID::Make(5000, 1), *leaf);
  op.entry.address.offset_bytes = 0 - uint64_t{leaf->entry.address.size_class_bytes};
  ExpectCraftedEntryRefused(env_, dir_, op, "past the end");
}

// A referenced catalog chunk retired past the checkpoint epoch: no checkpoint retires later
// than itself and no OT delta past the published one is applied, so only a crafted table has
// it. fsck called it clean and Open reclaimed it after the next checkpoint, after which the
// store never opened again (adversarial round 16). Now an error for both.
TEST_P(FsckTest, AnEntryRetiredPastTheCheckpointIsAnError) {
  const SuperblockData sb = Superblock(env_, dir_);
  const std::vector<OtRecord> live = LiveObjects(env_, dir_);
  const OtRecord* chunk = FirstOfKind(live, ObjectKind::kCatalogChunk);
  ASSERT_NE(chunk, nullptr);
  OtDeltaOp op = UpsertWithEntryOf(chunk->id, *chunk);
  op.entry.retire_epoch = sb.checkpoint_epoch + 1;
  ExpectCraftedEntryRefused(env_, dir_, op, "past the checkpoint epoch");
}

// A handle above the object table's limit in an OT delta: a crafted or damaged log. Loading it
// would cost a directory pointer per 1 024 handles below it (adversarial round 16: 14.8 GB for
// handle 2^32), so both fsck and Open refuse it.
TEST_P(FsckTest, AnOtDeltaHandleAboveTheLimitIsRefused) {
  const std::vector<OtRecord> live = LiveObjects(env_, dir_);
  const OtRecord* leaf = FirstOfKind(live, ObjectKind::kLeaf);
  ASSERT_NE(leaf, nullptr);
  OtDeltaOp op = UpsertWithEntryOf(NodeID::Make(NodeID::kHandleMax, 1), *leaf);
  AppendOtDelta(env_, dir_, {op});
  FsckReport r = RunFsck(env_, dir_);
  EXPECT_EQ(r.ExitCode(), 4) << Describe(r);
  bool named = false;
  for (const FsckFinding& f : r.findings) {
    named = named || (f.severity == FsckSeverity::kError &&
                      f.message.find("above the limit") != std::string::npos);
  }
  EXPECT_TRUE(named) << Describe(r);
  const auto opened = OpenAndAnswer(env_, dir_);
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(opened.status().IsCorruption()) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find("above the limit"), std::string::npos)
      << opened.status().ToString();
}

// An OT checkpoint record at a handle far past every other (checksums recomputed: a crafted
// file), its entry a copy of another record's. It is loaded sparsely (its own chunk, not a slot
// per handle below it: 20 000 such records 2^16 apart took 4.5 GB before, adversarial round
// 16), and refused as the overlap it is, with both NodeIDs named.
TEST_P(FsckTest, AnOtCheckpointRecordAtAFarHandleIsRefusedAsAnOverlap) {
  const SuperblockData sb = Superblock(env_, dir_);
  ASSERT_NE(sb.ot_checkpoint_id, 0u);
  Result<OtCheckpointContents> old = ReadOtCheckpoint(env_, dir_, sb.ot_checkpoint_id, sb.store_id);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  const uint64_t epoch = old->epoch();
  ObjectTable crafted;
  for (uint64_t i = 0; i < old->entry_count(); ++i) {
    const OtRecord rec = old->record(i).value();
    ASSERT_TRUE(crafted.LoadEntry(rec.id, rec.entry).ok());
  }
  const OtRecord copied = old->record(0).value();
  const NodeID far = NodeID::Make(kObjectTableHandleLimitDefault - 15, 1);
  ASSERT_TRUE(crafted.LoadEntry(far, copied.entry).ok());
  crafted.FinishLoad();
  old = Status::NotFound("closed");  // unmap before rewriting the file
  const std::string name = OtCheckpointFileName(sb.ot_checkpoint_id);
  ASSERT_TRUE(env_->DeleteFile(Path(name)).ok());
  ASSERT_TRUE(WriteOtCheckpoint(env_, dir_, sb.ot_checkpoint_id, epoch, crafted, sb.store_id).ok());

  FsckReport r = RunFsck(env_, dir_);
  const FsckFinding* f = FindFinding(r, FsckSeverity::kError, "allocator", "overlap");
  ASSERT_NE(f, nullptr) << Describe(r);
  EXPECT_NE(f->message.find(DescribeNodeId(far)), std::string::npos) << f->message;
  EXPECT_EQ(r.ExitCode(), 4);
  const auto opened = OpenAndAnswer(env_, dir_);
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(opened.status().IsCorruption()) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find(DescribeNodeId(far)), std::string::npos)
      << opened.status().ToString();
}

// A valid object in a free slot, made live by an OT delta, that nothing references.
TEST_P(FsckTest, LeakedObjectIsAWarningAndRepairReclaimsIt) {
  const SuperblockData sb = Superblock(env_, dir_);
  const std::string file = DataFileName(1024);  // the class small objects use
  const uint64_t offset = env_->FileSize(Path(file)).value() - 1024;  // last slot: free
  const NodeID id = NodeID::Make(5000, 1);
  tree::LeafData leaf;
  leaf.keys = {tree::EncodeInt64Key(1)};
  leaf.weights = {1};
  std::string stored;
  const uint32_t crc = EncodeObject(id, ObjectKind::kLeaf, sb.checkpoint_epoch,
                                    tree::EncodeLeaf(tree::KeyType::kInt64, leaf), &stored);
  WriteAt(env_, Path(file), offset, stored);
  OtDeltaOp op;
  op.type = OtDeltaOp::kUpsert;
  op.id = id;
  op.entry.address = ObjectAddress{1024, offset, static_cast<uint32_t>(stored.size())};
  op.entry.kind = ObjectKind::kLeaf;
  op.entry.birth_epoch = sb.checkpoint_epoch;
  op.entry.payload_crc32c = crc;
  AppendOtDelta(env_, dir_, {op});
  FsckReport r = RunFsck(env_, dir_);
  ASSERT_EQ(r.findings.size(), 1u) << Describe(r);
  const FsckFinding& f = r.findings[0];
  EXPECT_EQ(f.severity, FsckSeverity::kWarning);
  EXPECT_EQ(f.structure, "allocator");
  EXPECT_EQ(f.node_id, id.raw());
  EXPECT_EQ(f.file, file);
  EXPECT_EQ(f.offset_bytes, offset);
  EXPECT_NE(f.message.find("leaked"), std::string::npos);
  EXPECT_EQ(r.ExitCode(), 0);
  FsckReport repaired = RunFsck(env_, dir_, /*repair=*/true);
  EXPECT_EQ(repaired.ExitCode(), 1) << Describe(repaired);
  FsckReport after = RunFsck(env_, dir_);
  EXPECT_TRUE(after.findings.empty()) << Describe(after);
  EXPECT_EQ(after.ot_entries + 1, r.ot_entries);
  EXPECT_EQ(OpenAndAnswer(env_, dir_).value(), built_.answers);
}

// A leaf re-encoded with a valid body CRC and a valid envelope (and the OT's CRC updated by an
// OT delta), whose positive sum no longer matches its summary: only the tree check sees it.
TEST_P(FsckTest, TreeInvariantViolationBehindValidCrcs) {
  const std::vector<OtRecord> live = LiveObjects(env_, dir_);
  const OtRecord* victim = FirstOfKind(live, ObjectKind::kLeaf);
  ASSERT_NE(victim, nullptr);
  fsck::ObjectReader reader(env_, dir_);
  auto body = reader.Read(victim->id, victim->entry);
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  const uint8_t kt = static_cast<uint8_t>((*body)[tree::kLeafKeyTypeOffset]);
  auto leaf = tree::DecodeLeaf(*body, static_cast<tree::KeyType>(kt));
  ASSERT_TRUE(leaf.ok());
  tree::LeafData forged = **leaf;
  if (forged.implicit_unit_weights()) forged.weights.assign(forged.keys.size(), 1);
  forged.weights[0] = forged.weights[0] > 0 ? forged.weights[0] + 1 : 5;
  std::string stored;
  const uint32_t crc =
      EncodeObject(victim->id, ObjectKind::kLeaf, victim->entry.birth_epoch,
                   tree::EncodeLeaf(static_cast<tree::KeyType>(kt), forged), &stored);
  ASSERT_EQ(stored.size(), victim->entry.address.length_bytes);
  const std::string file = DataFileName(victim->entry.address.size_class_bytes);
  WriteAt(env_, Path(file), victim->entry.address.offset_bytes, stored);
  OtDeltaOp op = UpsertWithEntryOf(victim->id, *victim);
  op.entry.payload_crc32c = crc;
  AppendOtDelta(env_, dir_, {op});
  FsckReport r = RunFsck(env_, dir_);
  // The leaf against its summary, and the descriptor's N against the leaves' contents.
  ASSERT_EQ(r.findings.size(), 2u) << Describe(r);
  const FsckFinding& f = r.findings[0];
  EXPECT_EQ(f.severity, FsckSeverity::kError);
  EXPECT_EQ(f.structure, "tree");
  EXPECT_NE(r.findings[1].message.find("descriptor says N"), std::string::npos);
  EXPECT_EQ(f.node_id, victim->id.raw());
  EXPECT_EQ(f.file, file);
  EXPECT_EQ(f.offset_bytes, victim->entry.address.offset_bytes);
  EXPECT_NE(f.message.find("positive sum"), std::string::npos) << f.message;
  // Queries that need the leaf refuse it (LeafBox::Load checks the summary).
  auto answers = OpenAndAnswer(env_, dir_);
  EXPECT_TRUE(!answers.ok() || *answers == built_.answers);
}

TEST_P(FsckTest, RedoRecordForAnUnknownTree) {
  CommitRecordView rec;
  std::string ops;
  tree::AppendOrderStatOp(&ops, tree::EncodeInt64Key(1), 1);
  rec.ops.push_back(CommitOps{999, ops});
  std::string payload;
  EncodeCommitRecord(rec, &payload);
  AppendFrame(env_, dir_, LogRecordType::kCommit, 1000000, payload);
  FsckReport r = RunFsck(env_, dir_);
  const FsckFinding* f = FindFinding(r, FsckSeverity::kError, "redo", "unknown tree id 999");
  ASSERT_NE(f, nullptr) << Describe(r);
  EXPECT_EQ(r.ExitCode(), 4);
  EXPECT_TRUE(OpenAndAnswer(env_, dir_).status().IsCorruption());
}

// ---------------------------------------------------------------------------------------------
// Fault-injection-only properties

TEST(FsckWrites, NonRepairFsckWritesNothing) {
  FaultInjectionEnv env;
  Build(&env, "/db");
  std::vector<std::string> names;
  ASSERT_TRUE(env.ListDir("/db", &names).ok());
  std::map<std::string, std::string> before;
  for (const std::string& n : names) before[n] = ReadAll(&env, JoinPath("/db", n));
  // fsck takes the directory's shared flock, which changes nothing: no mutating operation.
  uint64_t ops = env.mutating_op_count();
  const size_t unsynced = env.UnsyncedOpCount();
  FsckReport r = RunFsck(&env, "/db");
  EXPECT_TRUE(r.findings.empty()) << Describe(r);
  EXPECT_EQ(env.mutating_op_count(), ops);
  EXPECT_EQ(env.UnsyncedOpCount(), unsynced);
  // Damage and unknown files do not change that.
  // Slot 1 of the 1 KiB class: the small objects of this store live there.
  ASSERT_TRUE(env.FlipBit("/db/" + DataFileName(1024), 1024 + 30, 1).ok());  // its CRC
  before["data-1k.dat"] = ReadAll(&env, "/db/data-1k.dat");
  ops = env.mutating_op_count();
  r = RunFsck(&env, "/db");
  EXPECT_EQ(r.ExitCode(), 4);
  EXPECT_EQ(env.mutating_op_count(), ops);
  names.clear();
  ASSERT_TRUE(env.ListDir("/db", &names).ok());
  std::map<std::string, std::string> after;
  for (const std::string& n : names) after[n] = ReadAll(&env, JoinPath("/db", n));
  EXPECT_TRUE(before == after);
  EXPECT_EQ(env.UnsyncedOpCount(), unsynced);
}

// --repair changes nothing while fsck finds an error: what it takes for the published state may
// be wrong then (an adversarial run: both copies of the newest superblock pair flipped, the
// older generation's manifest long deleted; repair rewrote every copy with the older generation
// and deleted the newest manifest as a "leftover", the only record of a retained checkpoint,
// which flipping the bits back would have recovered). Here: an error (a damaged object), a bad
// superblock copy and a leftover, each repairable alone.
TEST(FsckWrites, RepairWritesNothingWhileAnErrorIsLeft) {
  FaultInjectionEnv env;
  Build(&env, "/db");
  ASSERT_TRUE(env.FlipBit("/db/" + DataFileName(1024), 1024 + 30, 1).ok());  // an object's CRC
  const SuperblockData sb = Superblock(&env, "/db");
  const size_t older = ((sb.generation + 1) % 2) * kSuperblockCopiesPerGeneration;
  FlipBitVia(&env, "/db/" + std::string(kSuperblockFileName),
             older * kSuperblockCopySize + kSbCatalogRootOffset, 0);
  WriteAt(&env, "/db/" + OtCheckpointFileName(99), 0, "partial");
  const std::map<std::string, std::string> before = DirImage(&env, "/db");
  const uint64_t ops = env.mutating_op_count();
  const FsckReport r = RunFsck(&env, "/db", /*repair=*/true);
  EXPECT_EQ(r.ExitCode(), 4) << Describe(r);
  EXPECT_EQ(r.repaired(), 0u) << Describe(r);
  EXPECT_NE(FindFinding(r, FsckSeverity::kWarning, "superblock", "not repaired: fsck found errors"),
            nullptr)
      << Describe(r);
  EXPECT_NE(FindFinding(r, FsckSeverity::kInfo, "file", "not repaired: fsck found errors"), nullptr)
      << Describe(r);
  EXPECT_EQ(env.mutating_op_count(), ops);
  EXPECT_TRUE(DirImage(&env, "/db") == before);
}

// A repair step that cannot write (a read-only mount: EROFS) is an operational error, exit bit
// 8, not damage: a sound store with a leftover file is exit 8 with no error finding (it was
// exit 4, "1 errors", for a store that has none; found by an adversarial run).
TEST(FsckWrites, ARepairThatCannotWriteIsAnOperationalErrorNotDamage) {
  FaultInjectionEnv env;
  Build(&env, "/db");
  WriteAt(&env, "/db/" + OtCheckpointFileName(99), 0, "partial");
  env.FailOp(env.mutating_op_count() + 1, testutil::FailMode::kPersistent, EROFS,
             testutil::OpScope::kMutatingOp);
  const FsckReport r = RunFsck(&env, "/db", /*repair=*/true);
  env.ClearFaults();
  EXPECT_EQ(r.ExitCode(), 8) << Describe(r);
  EXPECT_EQ(r.errors(), 0u) << Describe(r);
  EXPECT_TRUE(r.repair_failed);
  EXPECT_NE(FindFinding(r, FsckSeverity::kWarning, "repair", "failed"), nullptr) << Describe(r);
  EXPECT_TRUE(env.FileExists("/db/" + OtCheckpointFileName(99)));
  // Once it can write, the same repair succeeds.
  EXPECT_EQ(RunFsck(&env, "/db", /*repair=*/true).ExitCode(), 1);
  EXPECT_EQ(RunFsck(&env, "/db").ExitCode(), 0);
}

TEST(FsckWrites, BusyWhileTheStoreIsOpen) {
  FaultInjectionEnv env;
  Build(&env, "/db");
  RuntimeOptions o = SmallOptions(&env);
  auto rt = Open("/db", o);
  ASSERT_TRUE(rt.ok());
  auto r = Fsck("/db", FsckOptions{&env});
  EXPECT_TRUE(r.status().IsBusy()) << r.status().ToString();
  ASSERT_TRUE((*rt)->Close().ok());
  rt->reset();
  EXPECT_TRUE(Fsck("/db", FsckOptions{&env}).ok());
}

TEST(FsckWrites, MissingDirectoryAndForeignDirectoryAreOperationalErrors) {
  FaultInjectionEnv env;
  EXPECT_TRUE(Fsck("/nothing", FsckOptions{&env}).status().IsNotFound());
  ASSERT_TRUE(env.CreateDir("/foreign").ok());
  WriteAt(&env, "/foreign/x", 0, "y");
  EXPECT_TRUE(Fsck("/foreign", FsckOptions{&env}).status().IsInvalidArgument());
}

// ---------------------------------------------------------------------------------------------
// Other shapes of store

TEST(FsckShapes, NewStoreAndStoreWithoutCheckpointAreClean) {
  FaultInjectionEnv env;
  {
    auto rt = Open("/db", SmallOptions(&env));
    ASSERT_TRUE(rt.ok());
    ASSERT_TRUE((*rt)->Close().ok());
  }
  FsckReport r = RunFsck(&env, "/db");
  EXPECT_TRUE(r.findings.empty()) << Describe(r);
  {
    auto rt = Open("/db", SmallOptions(&env));
    ASSERT_TRUE(rt.ok());
    std::mt19937_64 rng(3);
    RuntimeWriteBatch b(rt->get());
    b.CreateTree("x", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    ASSERT_TRUE((*rt)->Commit(b).ok());
    RandomOps(rt->get(), &rng, {"x"}, 30);
    ASSERT_TRUE((*rt)->Close().ok());
  }
  r = RunFsck(&env, "/db");
  EXPECT_TRUE(r.findings.empty()) << Describe(r);
  EXPECT_EQ(r.commits_past_checkpoint, 2u);
  EXPECT_EQ(r.trees_checked, 0u);  // no checkpoint yet: the tree lives in the redo log
}

// Log rotation (several log files, obsolete ones deleted by checkpoints) and a full OT
// checkpoint after many deltas: clean; a flip in a log file that is not the last is corruption.
TEST(FsckShapes, RotatedLogs) {
  FaultInjectionEnv env;
  RuntimeOptions o = SmallOptions(&env);
  o.log_file_size_max_bytes = 64 << 10;
  std::unique_ptr<Runtime> rt = OpenWithInt64Trees("/db", o, {"p", "q"});
  ASSERT_NE(rt, nullptr);
  std::mt19937_64 rng(11);
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 40; ++i) RandomOps(rt.get(), &rng, {"p", "q"}, 60);
    if (round % 2 == 1) {
      ASSERT_TRUE(rt->Checkpoint().ok());
    }
  }
  for (int i = 0; i < 120; ++i) RandomOps(rt.get(), &rng, {"p", "q"}, 60);  // redo: 2+ files
  const std::string expected = Answers(rt.get()).value();
  ASSERT_TRUE(rt->Close().ok());
  rt.reset();
  const uint64_t last = LastLogNumber(&env, "/db");
  const SuperblockData sb = Superblock(&env, "/db");
  ASSERT_GT(last, sb.log_replay_file_number) << "the test needs replay over several log files";
  FsckReport r = RunFsck(&env, "/db");
  EXPECT_TRUE(r.findings.empty()) << Describe(r);
  EXPECT_EQ(OpenAndAnswer(&env, "/db").value(), expected);
  const std::string victim = JoinPath("/db", LogFileName(sb.log_replay_file_number));
  const uint64_t size = env.FileSize(victim).value();
  ASSERT_TRUE(env.FlipBit(victim, size - 10, 2).ok());  // the last frame of a non-last file
  r = RunFsck(&env, "/db");
  const FsckFinding* f = FindFinding(r, FsckSeverity::kError, "log");
  ASSERT_NE(f, nullptr) << Describe(r);
  EXPECT_EQ(f->file, LogFileName(sb.log_replay_file_number));
  EXPECT_FALSE(OpenAndAnswer(&env, "/db").ok());
}

// A log file that is not the last, cut exactly at the start of its last frame: every frame left
// is valid, so only the gap in the commit epochs shows that a commit is missing. Open refuses
// the store and fsck calls it an error, naming the file (before, the replay skipped that commit
// silently: found by an adversarial run).
TEST(FsckShapes, ANonLastLogFileCutAtAFrameBoundaryIsAnEpochGap) {
  FaultInjectionEnv env;
  RuntimeOptions o = SmallOptions(&env);
  o.log_file_size_max_bytes = 64 << 10;
  std::unique_ptr<Runtime> rt = OpenWithInt64Trees("/db", o, {"p"});
  ASSERT_NE(rt, nullptr);
  ASSERT_TRUE(rt->Checkpoint().ok());
  std::mt19937_64 rng(12);
  for (int i = 0; i < 120; ++i) RandomOps(rt.get(), &rng, {"p"}, 60);  // redo: 2+ files
  ASSERT_TRUE(rt->Close().ok());
  rt.reset();
  const SuperblockData sb = Superblock(&env, "/db");
  ASSERT_GT(LastLogNumber(&env, "/db"), sb.log_replay_file_number);
  EXPECT_TRUE(RunFsck(&env, "/db").findings.empty());
  // The frames of the first replayed file: cut it where its last frame starts.
  const std::string name = LogFileName(sb.log_replay_file_number);
  const std::string victim = JoinPath("/db", name);
  const std::string bytes = ReadAll(&env, victim);
  uint64_t end = 0;
  const uint64_t last_start = LastFrameStart(bytes, &end);
  ASSERT_EQ(end, bytes.size()) << "a file that is not the last ends with a whole frame";
  ASSERT_GT(last_start, sb.log_replay_offset_bytes);
  {
    auto file = env.OpenFile(victim, OpenMode::kReadWrite);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Truncate(last_start).ok());
    ASSERT_TRUE((*file)->Sync().ok());
  }
  FsckReport r = RunFsck(&env, "/db");
  const FsckFinding* f = FindFinding(r, FsckSeverity::kError, "log");
  ASSERT_NE(f, nullptr) << Describe(r);
  EXPECT_NE(f->message.find("is missing"), std::string::npos) << Describe(r);
  EXPECT_EQ(r.ExitCode(), 4);
  const Result<std::string> opened = OpenAndAnswer(&env, "/db");
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(opened.status().IsCorruption()) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find("follows epoch"), std::string::npos)
      << opened.status().ToString();
  EXPECT_NE(opened.status().message().find(LogFileName(sb.log_replay_file_number + 1)),
            std::string::npos)
      << opened.status().ToString();
}

// The published checkpoint's OT delta is the log's last frame; damage to it looks like a torn
// tail, but the superblock's catalog needs the objects it published. Open refuses the store
// with an error naming the superblock and the tail's file and offset (not a bare NotFound), and
// fsck --repair does not truncate that tail: flipping the bit back restores every answer
// (before, repair cut it off for good: found by an adversarial run).
TEST(FsckShapes, TheCheckpointsDamagedOtDeltaIsNotRepairedAway) {
  FaultInjectionEnv env;
  std::unique_ptr<Runtime> rt = OpenWithInt64Trees("/db", SmallOptions(&env), {"p"});
  ASSERT_NE(rt, nullptr);
  std::mt19937_64 rng(13);
  ASSERT_TRUE(rt->Checkpoint().ok());
  for (int i = 0; i < 20; ++i) RandomOps(rt.get(), &rng, {"p"}, 40);
  ASSERT_TRUE(rt->Checkpoint().ok());  // logs an OT delta: a full OT checkpoint exists
  const std::string expected = Answers(rt.get()).value();
  ASSERT_TRUE(rt->Close().ok());
  rt.reset();
  const std::string log = JoinPath("/db", LogFileName(LastLogNumber(&env, "/db")));
  const std::string bytes = ReadAll(&env, log);
  uint64_t end = 0;
  const uint64_t last_start = LastFrameStart(bytes, &end);
  ASSERT_EQ(static_cast<uint8_t>(bytes[last_start + 4]), 2) << "the last frame is an OT delta";
  const uint64_t size = bytes.size();
  ASSERT_TRUE(env.FlipBit(log, last_start + 30, 3).ok());  // in its payload
  const Result<std::string> opened = OpenAndAnswer(&env, "/db");
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(opened.status().IsCorruption()) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find("SUPERBLOCK: the checkpoint at epoch"),
            std::string::npos)
      << opened.status().ToString();
  EXPECT_NE(opened.status().message().find(LogFileName(LastLogNumber(&env, "/db")) + " offset " +
                                           std::to_string(last_start)),
            std::string::npos)
      << opened.status().ToString();
  FsckReport r = RunFsck(&env, "/db", /*repair=*/true);
  EXPECT_EQ(r.repaired(), 0u) << Describe(r);
  EXPECT_EQ(r.ExitCode(), 4) << Describe(r);
  EXPECT_EQ(env.FileSize(log).value(), size);
  ASSERT_TRUE(env.FlipBit(log, last_start + 30, 3).ok());
  EXPECT_EQ(OpenAndAnswer(&env, "/db").value(), expected);
}

TEST(FsckShapes, AbsoluteConsistencyModeCallsATornTailAnError) {
  FaultInjectionEnv env;
  Build(&env, "/db");
  const std::string log = JoinPath("/db", LogFileName(LastLogNumber(&env, "/db")));
  WriteAt(&env, log, env.FileSize(log).value(), std::string(64, '\x01'));
  FsckOptions o;
  o.env = &env;
  o.wal_recovery_mode = WalRecoveryMode::kAbsoluteConsistency;
  auto r = Fsck("/db", o);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(FindFinding(*r, FsckSeverity::kError, "log"), nullptr) << Describe(*r);
  EXPECT_EQ(r->ExitCode(), 4);
  EXPECT_EQ(RunFsck(&env, "/db").ExitCode(), 0);  // the default mode: a warning
}

// ---------------------------------------------------------------------------------------------
// The self-test of issue 3: single-bit flips at sampled positions of every structure.

struct Range {
  std::string file;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct Structure {
  std::string name;
  std::vector<Range> ranges;  // bytes covered by a checksum (or, for "uncovered", not)
  int flips = 0;
  bool covered = true;
};

struct FlipTotals {
  uint64_t flips = 0, covered = 0, detected = 0, detected_as_error = 0, uncovered = 0,
           uncovered_silent = 0;
  uint64_t queries_correct = 0, queries_refused = 0, queries_prefix = 0;
  std::map<std::string, uint64_t> refused_by_code;
};

// Picks a byte uniformly over the structure's ranges.
std::pair<std::string, uint64_t> Pick(const Structure& s, std::mt19937_64* rng) {
  uint64_t total = 0;
  for (const Range& r : s.ranges) total += r.end - r.begin;
  uint64_t k = (*rng)() % total;
  for (const Range& r : s.ranges) {
    if (k < r.end - r.begin) return {r.file, r.begin + k};
    k -= r.end - r.begin;
  }
  return {s.ranges.back().file, s.ranges.back().end - 1};
}

// Restores every small file (Open may truncate a log tail that the flip made look torn).
void RestoreSmallFiles(FaultInjectionEnv* env, const std::string& dir,
                       const std::map<std::string, std::string>& snapshot) {
  std::vector<std::string> names;
  ASSERT_TRUE(env->ListDir(dir, &names).ok());
  for (const std::string& n : names) {
    if (snapshot.count(n) == 0 && n.rfind("data-", 0) != 0) {
      ASSERT_TRUE(env->DeleteFile(JoinPath(dir, n)).ok()) << n;
    }
  }
  for (const auto& [name, bytes] : snapshot) {
    const std::string path = JoinPath(dir, name);
    std::string now;
    if (env->FileExists(path) && env->ReadFileToString(path, &now).ok() && now == bytes) continue;
    auto f = env->OpenFile(path, OpenMode::kCreate);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Truncate(0).ok());
    ASSERT_TRUE((*f)->WriteAt(0, bytes).ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
}

TEST(FsckSelfTest, BitFlipsAreDetectedAndQueriesNeverAnswerWrong) {
  FaultInjectionEnv env;
  const std::string dir = "/db";
  const BuiltStore built = Build(&env, dir);
  ASSERT_TRUE(RunFsck(&env, dir).findings.empty());
  const SuperblockData sb = Superblock(&env, dir);
  const std::vector<OtRecord> live = LiveObjects(&env, dir);
  const std::vector<Frame> frames = Frames(&env, dir);
  ASSERT_FALSE(frames.empty());
  const Frame last_frame = frames.back();

  auto whole = [&](const std::string& name) {
    return Range{name, 0, env.FileSize(JoinPath(dir, name)).value()};
  };
  std::vector<Structure> structures;
  structures.push_back(
      {"superblock", {Range{kSuperblockFileName, 0, 2 * kSuperblockCopySize}}, 1200});
  structures.push_back({"manifest", {whole(ManifestFileName(sb.manifest_generation))}, 1200});
  structures.push_back({"ot-checkpoint", {whole(OtCheckpointFileName(sb.ot_checkpoint_id))}, 1500});
  Structure log{"log", {}, 2500};
  for (uint64_t n = sb.log_replay_file_number; env.FileExists(JoinPath(dir, LogFileName(n))); ++n) {
    log.ranges.push_back(whole(LogFileName(n)));
  }
  structures.push_back(log);
  const std::pair<ObjectKind, int> kinds[] = {{ObjectKind::kLeaf, 1300},
                                              {ObjectKind::kSummaryChunk, 800},
                                              {ObjectKind::kTreeDescriptor, 800},
                                              {ObjectKind::kCatalogChunk, 600},
                                              {ObjectKind::kCatalogRoot, 600}};
  std::vector<Range> used;
  for (const auto& [kind, flips] : kinds) {
    Structure st{"object kind " + std::to_string(static_cast<int>(kind)), {}, flips};
    for (const OtRecord& r : live) {
      const Range range{DataFileName(r.entry.address.size_class_bytes),
                        r.entry.address.offset_bytes,
                        r.entry.address.offset_bytes + r.entry.address.length_bytes};
      used.push_back(range);
      if (r.entry.kind == kind) st.ranges.push_back(range);
    }
    ASSERT_FALSE(st.ranges.empty()) << st.name;
    structures.push_back(st);
  }
  // Not covered by any checksum (docs/fsck.md): the rest of each data file — free slots and
  // the unused tail of each used slot. A flip there must change nothing and produce no finding.
  Structure uncovered{"uncovered (data-file bytes outside live objects)", {}, 500, false};
  {
    std::sort(used.begin(), used.end(), [](const Range& a, const Range& b) {
      return std::tie(a.file, a.begin) < std::tie(b.file, b.begin);
    });
    // Every data file of the store (small objects live in the 1 KiB class, larger ones above).
    for (int c = 0; c < kSizeClassCount; ++c) {
      const std::string name = DataFileName(SizeClassBytesAt(c));
      if (!env.FileExists(JoinPath(dir, name))) continue;
      const Range data = whole(name);
      uint64_t at = 0;
      for (const Range& u : used) {
        if (u.file != data.file) continue;
        if (u.begin > at) uncovered.ranges.push_back(Range{data.file, at, u.begin});
        at = std::max(at, u.end);
      }
      if (at < data.end) uncovered.ranges.push_back(Range{data.file, at, data.end});
    }
  }
  structures.push_back(uncovered);

  std::map<std::string, std::string> snapshot;
  {
    std::vector<std::string> names;
    ASSERT_TRUE(env.ListDir(dir, &names).ok());
    for (const std::string& n : names) {
      if (n.rfind("data-", 0) != 0) snapshot[n] = ReadAll(&env, JoinPath(dir, n));
    }
  }
  std::map<std::string, uint64_t> data_sizes;
  for (int c = 0; c < kSizeClassCount; ++c) {
    const std::string name = DataFileName(SizeClassBytesAt(c));
    if (env.FileExists(JoinPath(dir, name))) {
      data_sizes[name] = env.FileSize(JoinPath(dir, name)).value();
    }
  }

  std::mt19937_64 rng(20240611);
  FlipTotals t;
  const std::string last_log = LogFileName(last_frame.start.file_number);
  for (const Structure& s : structures) {
    uint64_t detected_here = 0;
    const FlipTotals before = t;
    for (int i = 0; i < s.flips; ++i) {
      const auto [file, offset] = Pick(s, &rng);
      const int bit = static_cast<int>(rng() % 8);
      const std::string where = s.name + " " + file + "@" + std::to_string(offset) + " bit " +
                                std::to_string(bit) + " (seed 20240611, flip " +
                                std::to_string(t.flips) + ")";
      ASSERT_TRUE(env.FlipBit(JoinPath(dir, file), offset, bit).ok()) << where;
      ++t.flips;
      FsckReport r = RunFsck(&env, dir);
      if (s.covered) {
        ++t.covered;
        if (r.errors() + r.warnings() > 0) {
          ++t.detected;
          ++detected_here;
          if (r.errors() > 0) ++t.detected_as_error;
        } else {
          ADD_FAILURE() << "flip not detected: " << where << "\n" << Describe(r);
        }
      } else {
        ++t.uncovered;
        if (r.findings.empty()) {
          ++t.uncovered_silent;
        } else {
          ADD_FAILURE() << "finding for a flip in unchecksummed bytes: " << where << "\n"
                        << Describe(r);
        }
      }
      Result<std::string> answers = OpenAndAnswer(&env, dir);
      const bool in_last_frame = file == last_log && offset >= last_frame.start.offset_bytes &&
                                 offset < last_frame.end.offset_bytes;
      if (!answers.ok()) {
        ++t.queries_refused;
        ++t.refused_by_code[answers.status().ToString().substr(
            0, answers.status().ToString().find(':'))];
        if (!s.covered) ADD_FAILURE() << "query refused after a harmless flip: " << where;
      } else if (*answers == built.answers) {
        ++t.queries_correct;
      } else if (in_last_frame && *answers == built.answers_before_last) {
        ++t.queries_prefix;  // the last frame's bit rot is indistinguishable from a torn write
      } else {
        ADD_FAILURE() << "WRONG ANSWER after " << where << "\nexpected:\n"
                      << built.answers << "got:\n"
                      << *answers;
      }
      Status unflip = env.FlipBit(JoinPath(dir, file), offset, bit);
      (void)unflip;  // the byte may be gone (a truncated log tail): restored below
      RestoreSmallFiles(&env, dir, snapshot);
      for (const auto& [name, size] : data_sizes) {
        ASSERT_EQ(env.FileSize(JoinPath(dir, name)).value(), size) << where;
      }
    }
    std::printf(
        "  %-50s %5d flips, %5llu detected; queries %5llu correct, %5llu refused, %3llu prefix\n",
        s.name.c_str(), s.flips, static_cast<unsigned long long>(detected_here),
        static_cast<unsigned long long>(t.queries_correct - before.queries_correct),
        static_cast<unsigned long long>(t.queries_refused - before.queries_refused),
        static_cast<unsigned long long>(t.queries_prefix - before.queries_prefix));
  }
  EXPECT_TRUE(RunFsck(&env, dir).findings.empty());
  std::string codes;
  for (const auto& [code, n] : t.refused_by_code) codes += " " + code + "=" + std::to_string(n);
  std::printf(
      "bit-flip self-test: %llu flips; %llu in checksummed bytes, %llu detected (%llu as errors); "
      "%llu in unchecksummed bytes, %llu without a finding; queries: %llu correct, %llu refused "
      "(%s ), %llu prefix (bit rot in the last log frame, dropped as a torn tail), 0 wrong\n",
      static_cast<unsigned long long>(t.flips), static_cast<unsigned long long>(t.covered),
      static_cast<unsigned long long>(t.detected),
      static_cast<unsigned long long>(t.detected_as_error),
      static_cast<unsigned long long>(t.uncovered),
      static_cast<unsigned long long>(t.uncovered_silent),
      static_cast<unsigned long long>(t.queries_correct),
      static_cast<unsigned long long>(t.queries_refused), codes.c_str(),
      static_cast<unsigned long long>(t.queries_prefix));
  EXPECT_GE(t.flips, 10000u);
  EXPECT_EQ(t.detected, t.covered);
  EXPECT_EQ(t.uncovered_silent, t.uncovered);
}

}  // namespace
}  // namespace cowtree::recovery
