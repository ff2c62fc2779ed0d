// Tests of testutil::FaultInjectionEnv: each crash model's semantics, directory durability,
// fault rules (FailOp, EIO on fdatasync, ENOSPC, crash points), bit rot, handles after a crash.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testutil/fault_injection_env.h"

namespace cowtree::testutil {
namespace {

const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}
#define ASSERT_OK(expr)                                        \
  do {                                                         \
    const auto& _r = (expr);                                   \
    ASSERT_TRUE(StatusOf(_r).ok()) << StatusOf(_r).ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                        \
  do {                                                         \
    const auto& _r = (expr);                                   \
    EXPECT_TRUE(StatusOf(_r).ok()) << StatusOf(_r).ToString(); \
  } while (0)

constexpr char kDir[] = "/db";

std::string Bytes(size_t n, char fill) { return std::string(n, fill); }

std::string Pattern(size_t n, uint64_t seed) {
  DeterministicRng rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng.Next());
  return s;
}

// A durable store directory "/db" (its entry in "/" synced).
void MakeDurableDir(FaultInjectionEnv* env) {
  ASSERT_OK(env->CreateDir(kDir));
  ASSERT_OK(env->SyncDir("/"));
}

// Creates dir/name with data, fdatasyncs it and syncs the directory: fully durable.
void WriteDurableFile(FaultInjectionEnv* env, const std::string& path, const std::string& data) {
  auto file = env->OpenFile(path, OpenMode::kCreate);
  ASSERT_OK(file);
  ASSERT_OK((*file)->WriteAt(0, data));
  ASSERT_OK((*file)->Sync());
  ASSERT_OK(env->SyncDir(kDir));
}

std::string ReadCurrent(FaultInjectionEnv* env, const std::string& path) {
  std::string out;
  Status s = env->ReadFileToString(path, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

TEST(FaultEnvBasics, BehavesLikeAFileSystem) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  EXPECT_TRUE(env.FileExists("/db"));
  EXPECT_TRUE(env.FileExists("/db/"));
  auto f = env.OpenFile("/db/a", OpenMode::kCreate);
  ASSERT_OK(f);
  ASSERT_OK((*f)->WriteAt(0, "hello"));
  ASSERT_OK((*f)->WriteAt(10, "world"));  // leaves a zero gap
  EXPECT_EQ(*(*f)->Size(), 15u);
  char buf[32];
  size_t got = 0;
  ASSERT_OK((*f)->ReadAt(3, sizeof(buf), buf, &got));
  EXPECT_EQ(std::string(buf, got), std::string("lo\0\0\0\0\0world", 12));
  EXPECT_EQ((*f)->path(), "/db/a");
  EXPECT_EQ(*env.FileSize("/db/a"), 15u);
  EXPECT_TRUE(env.FileSize("/db/missing").status().IsNotFound());
  EXPECT_TRUE(env.OpenFile("/db/missing", OpenMode::kReadWrite).status().IsNotFound());
  EXPECT_TRUE(env.OpenFile("/nodir/x", OpenMode::kCreate).status().IsNotFound());
  EXPECT_TRUE(env.OpenFile("/db/a", OpenMode::kCreateExclusive).status().IsIOError());
  EXPECT_TRUE(env.OpenFile("/db", OpenMode::kReadWrite).status().IsIOError());
  EXPECT_TRUE(env.DeleteFile("/db/missing").IsNotFound());
  EXPECT_TRUE(env.RenameFile("/db/missing", "/db/b").IsIOError());
  EXPECT_TRUE(env.SyncDir("/nodir").IsIOError());
  EXPECT_TRUE(env.CreateDir("/nodir/sub").IsIOError());
  EXPECT_OK(env.CreateDir("/db"));  // exists: OK

  auto ro = env.OpenFile("/db/a", OpenMode::kReadOnly);
  ASSERT_OK(ro);
  EXPECT_TRUE((*ro)->WriteAt(0, "x").IsIOError());
  EXPECT_TRUE((*ro)->Truncate(0).IsIOError());

  ASSERT_OK(env.CreateDir("/db/sub"));
  std::vector<std::string> names;
  ASSERT_OK(env.ListDir("/db", &names));
  EXPECT_EQ(names, (std::vector<std::string>{"a", "sub"}));
  EXPECT_TRUE(env.ListDir("/db/missing", &names).IsNotFound());

  ASSERT_OK(env.RenameFile("/db/a", "/db/sub/b"));
  EXPECT_FALSE(env.FileExists("/db/a"));
  EXPECT_EQ(ReadCurrent(&env, "/db/sub/b"), std::string("hello\0\0\0\0\0world", 15));
  ASSERT_OK(env.DeleteFile("/db/sub/b"));
  EXPECT_FALSE(env.FileExists("/db/sub/b"));
  // An open handle keeps an unlinked file alive (POSIX).
  ASSERT_OK((*f)->ReadAt(0, 5, buf, &got));
  EXPECT_EQ(std::string(buf, got), "hello");
}

TEST(FaultEnvBasics, AllocatePunchHoleAndTruncate) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  auto f = env.OpenFile("/db/log", OpenMode::kCreate);
  ASSERT_OK(f);
  ASSERT_OK((*f)->WriteAt(0, Bytes(100, 'a')));
  ASSERT_OK((*f)->Allocate(0, 1 << 20, /*keep_size=*/true));
  EXPECT_EQ(*(*f)->Size(), 100u);  // KEEP_SIZE: visible end unchanged
  EXPECT_EQ(env.StoredBytes(), 1u << 20);
  ASSERT_OK((*f)->Allocate(0, 4096, /*keep_size=*/false));
  EXPECT_EQ(*(*f)->Size(), 4096u);
  ASSERT_OK((*f)->PunchHole(10, 20));
  std::string s = ReadCurrent(&env, "/db/log");
  EXPECT_EQ(s.substr(0, 10), Bytes(10, 'a'));
  EXPECT_EQ(s.substr(10, 20), Bytes(20, '\0'));
  EXPECT_EQ(s.substr(30, 70), Bytes(70, 'a'));
  ASSERT_OK((*f)->Truncate(50));
  EXPECT_EQ(*(*f)->Size(), 50u);
  ASSERT_OK((*f)->Sync());
  ASSERT_OK(env.SyncDir(kDir));
  std::string durable;
  ASSERT_OK(env.ReadDurable("/db/log", &durable));
  EXPECT_EQ(durable, s.substr(0, 50));
}

TEST(FaultEnvCrash, UnsyncedWriteLostUnderDropUnsyncedKeptUnderKeepAll) {
  for (CrashModel model : {CrashModel::kDropUnsynced, CrashModel::kKeepAll}) {
    FaultInjectionEnv env;
    MakeDurableDir(&env);
    WriteDurableFile(&env, "/db/f", "synced|");
    auto f = env.OpenFile("/db/f", OpenMode::kReadWrite);
    ASSERT_OK(f);
    ASSERT_OK((*f)->WriteAt(7, "unsynced"));
    EXPECT_EQ(ReadCurrent(&env, "/db/f"), "synced|unsynced");
    std::string durable;
    ASSERT_OK(env.ReadDurable("/db/f", &durable));
    EXPECT_EQ(durable, "synced|");
    CrashReport r = env.SimulateCrash(model, 1);
    if (model == CrashModel::kKeepAll) {
      EXPECT_EQ(ReadCurrent(&env, "/db/f"), "synced|unsynced");
      EXPECT_EQ(r.file_ops_kept, 1u);
    } else {
      EXPECT_EQ(ReadCurrent(&env, "/db/f"), "synced|");
      EXPECT_EQ(r.file_ops_dropped, 1u);
    }
    EXPECT_EQ(env.UnsyncedOpCount(), 0u);
  }
}

TEST(FaultEnvCrash, SyncedDataSurvivesEveryModel) {
  const std::string synced = Pattern(3000, 7);
  for (CrashModel model : kAllCrashModels) {
    for (uint64_t seed = 0; seed < 20; ++seed) {
      FaultInjectionEnv env;
      MakeDurableDir(&env);
      WriteDurableFile(&env, "/db/a", synced);
      WriteDurableFile(&env, "/db/b", synced);
      // Unsynced appends after the synced bytes, a new file and a new name.
      auto a = env.OpenFile("/db/a", OpenMode::kReadWrite);
      ASSERT_OK(a);
      ASSERT_OK((*a)->WriteAt(synced.size(), Pattern(5000, seed)));
      ASSERT_OK((*a)->WriteAt(synced.size() + 5000, Pattern(700, seed + 1)));
      auto c = env.OpenFile("/db/c", OpenMode::kCreate);
      ASSERT_OK(c);
      ASSERT_OK((*c)->WriteAt(0, "new"));
      env.SimulateCrash(model, seed);
      for (const char* path : {"/db/a", "/db/b"}) {
        std::string now = ReadCurrent(&env, path);
        ASSERT_GE(now.size(), synced.size()) << CrashModelName(model) << " seed " << seed;
        EXPECT_EQ(now.substr(0, synced.size()), synced)
            << path << " " << CrashModelName(model) << " seed " << seed;
      }
    }
  }
}

TEST(FaultEnvCrash, CreateWithoutDirSyncVanishes) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  auto f = env.OpenFile("/db/new", OpenMode::kCreate);
  ASSERT_OK(f);
  ASSERT_OK((*f)->WriteAt(0, "data"));
  ASSERT_OK((*f)->Sync());  // data durable, name not
  std::vector<std::string> names;
  ASSERT_OK(env.ListDurable(kDir, &names));
  EXPECT_TRUE(names.empty());
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  EXPECT_FALSE(env.FileExists("/db/new"));

  // Same with the directory synced: kept.
  f = env.OpenFile("/db/new", OpenMode::kCreate);
  ASSERT_OK(f);
  ASSERT_OK((*f)->WriteAt(0, "data"));
  ASSERT_OK((*f)->Sync());
  ASSERT_OK(env.SyncDir("/db"));
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  EXPECT_EQ(ReadCurrent(&env, "/db/new"), "data");

  // Dir synced but data not: the name survives, empty.
  f = env.OpenFile("/db/empty", OpenMode::kCreate);
  ASSERT_OK(f);
  ASSERT_OK(env.SyncDir("/db"));
  ASSERT_OK((*f)->WriteAt(0, "lost"));
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  EXPECT_EQ(ReadCurrent(&env, "/db/empty"), "");
}

TEST(FaultEnvCrash, DirectoryWhoseEntryWasNeverSyncedVanishesWithItsFiles) {
  FaultInjectionEnv env;
  ASSERT_OK(env.CreateDir("/store"));
  auto f = env.OpenFile("/store/x", OpenMode::kCreate);
  ASSERT_OK(f);
  ASSERT_OK((*f)->WriteAt(0, "x"));
  ASSERT_OK((*f)->Sync());
  ASSERT_OK(env.SyncDir("/store"));  // but not "/"
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  EXPECT_FALSE(env.FileExists("/store"));
  EXPECT_FALSE(env.FileExists("/store/x"));

  ASSERT_OK(env.CreateDir("/store"));
  ASSERT_OK(env.CreateDir("/store/sub"));
  ASSERT_OK(env.SyncDir("/"));
  ASSERT_OK(env.SyncDir("/store"));
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  EXPECT_TRUE(env.FileExists("/store/sub"));
}

TEST(FaultEnvCrash, RenameWithoutDirSyncIsUndoneWithDirSyncKept) {
  for (bool sync_dir : {false, true}) {
    FaultInjectionEnv env;
    MakeDurableDir(&env);
    WriteDurableFile(&env, "/db/MANIFEST", "old");
    WriteDurableFile(&env, "/db/tmp", "new");
    ASSERT_OK(env.RenameFile("/db/tmp", "/db/MANIFEST"));
    EXPECT_EQ(ReadCurrent(&env, "/db/MANIFEST"), "new");
    if (sync_dir) ASSERT_OK(env.SyncDir(kDir));
    env.SimulateCrash(CrashModel::kDropUnsynced, 3);
    if (sync_dir) {
      EXPECT_EQ(ReadCurrent(&env, "/db/MANIFEST"), "new");
      EXPECT_FALSE(env.FileExists("/db/tmp"));
    } else {
      EXPECT_EQ(ReadCurrent(&env, "/db/MANIFEST"), "old");
      EXPECT_EQ(ReadCurrent(&env, "/db/tmp"), "new");
    }
  }
}

// Store::Backup renames "<dir>.partial" to "<dir>": the directory keeps its files under the new
// name once the parent is synced, and is back under the old name after a crash before that.
TEST(FaultEnvCrash, DirectoryRenameIsDurableAfterParentSync) {
  for (bool sync_parent : {false, true}) {
    FaultInjectionEnv env;
    MakeDurableDir(&env);
    ASSERT_OK(env.CreateDir("/db/bk.partial"));
    ASSERT_OK(env.SyncDir(kDir));
    WriteDurableFile(&env, "/db/bk.partial/f", "data");
    ASSERT_OK(env.SyncDir("/db/bk.partial"));
    ASSERT_OK(env.RenameFile("/db/bk.partial", "/db/bk"));
    EXPECT_EQ(ReadCurrent(&env, "/db/bk/f"), "data");
    EXPECT_FALSE(env.FileExists("/db/bk.partial"));
    if (sync_parent) ASSERT_OK(env.SyncDir(kDir));
    env.SimulateCrash(CrashModel::kDropUnsynced, 1);
    const std::string kept = sync_parent ? "/db/bk" : "/db/bk.partial";
    const std::string gone = sync_parent ? "/db/bk.partial" : "/db/bk";
    EXPECT_EQ(ReadCurrent(&env, kept + "/f"), "data");
    EXPECT_FALSE(env.FileExists(gone));
  }
  // Unsupported shapes are refused, never half done.
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  ASSERT_OK(env.CreateDir("/db/a"));
  ASSERT_OK(env.CreateDir("/db/a/sub"));
  EXPECT_EQ(env.RenameFile("/db/a", "/db/b").code(), StatusCode::kNotSupported);
  EXPECT_TRUE(env.FileExists("/db/a/sub"));
}

TEST(FaultEnvCrash, DeleteWithoutDirSyncIsUndone) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/log.1", "durable");
  {
    auto f = env.OpenFile("/db/log.1", OpenMode::kReadWrite);
    ASSERT_OK(f);
    ASSERT_OK((*f)->WriteAt(7, "+unsynced"));
  }
  ASSERT_OK(env.DeleteFile("/db/log.1"));
  EXPECT_FALSE(env.FileExists("/db/log.1"));
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  EXPECT_EQ(ReadCurrent(&env, "/db/log.1"), "durable");  // back, with its durable contents

  ASSERT_OK(env.DeleteFile("/db/log.1"));
  ASSERT_OK(env.SyncDir(kDir));
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  EXPECT_FALSE(env.FileExists("/db/log.1"));
}

// Writes 4 synced sectors then appends one unsynced aligned write of `sectors` sectors.
struct TornSetup {
  std::string synced = Pattern(4 * kSectorBytes, 11);
  std::string pending;
};

TornSetup MakeTornSetup(FaultInjectionEnv* env, uint64_t sectors, uint64_t seed) {
  TornSetup t;
  t.pending = Pattern(sectors * kSectorBytes, 1000 + seed);
  MakeDurableDir(env);
  WriteDurableFile(env, "/db/log", t.synced);
  auto f = env->OpenFile("/db/log", OpenMode::kReadWrite);
  EXPECT_TRUE(f.ok());
  EXPECT_TRUE((*f)->WriteAt(t.synced.size(), t.pending).ok());
  return t;
}

TEST(FaultEnvCrash, TornWriteKeepsWholeSectorsThenGarbageOrZeros) {
  for (CrashModel model : {CrashModel::kTornLastWriteGarbage, CrashModel::kTornLastWriteZeros}) {
    std::set<uint64_t> kept_sizes;
    for (uint64_t seed = 0; seed < 64; ++seed) {
      FaultInjectionEnv env;
      TornSetup t = MakeTornSetup(&env, 8, seed);
      CrashReport r = env.SimulateCrash(model, seed);
      SCOPED_TRACE(r.ToString());
      ASSERT_EQ(r.torn_path, "/db/log");
      std::string now = ReadCurrent(&env, "/db/log");
      ASSERT_EQ(now.size(), t.synced.size() + t.pending.size());  // the size update persisted
      EXPECT_EQ(now.substr(0, t.synced.size()), t.synced);
      const uint64_t kept = r.torn_kept_bytes;
      EXPECT_EQ(kept % kSectorBytes, 0u);
      EXPECT_LT(kept, t.pending.size());  // torn: at least the last sector is lost
      kept_sizes.insert(kept);
      EXPECT_EQ(now.substr(t.synced.size(), kept), t.pending.substr(0, kept));
      const std::string tail = now.substr(t.synced.size() + kept);
      if (model == CrashModel::kTornLastWriteZeros) {
        EXPECT_EQ(tail, Bytes(tail.size(), '\0'));
        EXPECT_FALSE(r.torn_tail_is_garbage);
      } else {
        EXPECT_NE(tail, t.pending.substr(kept));
        EXPECT_NE(tail, Bytes(tail.size(), '\0'));
        EXPECT_TRUE(r.torn_tail_is_garbage);
      }
    }
    EXPECT_GT(kept_sizes.size(), 4u) << "tear points should vary with the seed";
  }
}

TEST(FaultEnvCrash, TornLastWriteKeepsEarlierWritesOfThatFileAndChoosesTailBySeed) {
  std::set<bool> tails;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    FaultInjectionEnv env;
    MakeDurableDir(&env);
    WriteDurableFile(&env, "/db/log", "");
    auto f = env.OpenFile("/db/log", OpenMode::kReadWrite);
    ASSERT_OK(f);
    ASSERT_OK((*f)->WriteAt(0, Bytes(kSectorBytes, 'A')));
    ASSERT_OK((*f)->WriteAt(kSectorBytes, Bytes(kSectorBytes, 'B')));
    ASSERT_OK((*f)->WriteAt(2 * kSectorBytes, Bytes(2 * kSectorBytes, 'C')));
    CrashReport r = env.SimulateCrash(CrashModel::kTornLastWrite, seed);
    tails.insert(r.torn_tail_is_garbage);
    std::string now = ReadCurrent(&env, "/db/log");
    ASSERT_EQ(now.size(), 4 * kSectorBytes);
    EXPECT_EQ(now.substr(0, 2 * kSectorBytes), Bytes(kSectorBytes, 'A') + Bytes(kSectorBytes, 'B'));
    EXPECT_EQ(r.torn_offset_bytes, 2 * kSectorBytes);
    EXPECT_EQ(r.file_ops_kept, 2u);
  }
  EXPECT_EQ(tails.size(), 2u);
}

TEST(FaultEnvCrash, TornWriteIsDeterministicPerSeed) {
  std::string first, second;
  for (std::string* out : {&first, &second}) {
    FaultInjectionEnv env;
    MakeTornSetup(&env, 16, 5);
    env.SimulateCrash(CrashModel::kTornLastWriteGarbage, 12345);
    *out = ReadCurrent(&env, "/db/log");
  }
  EXPECT_EQ(first, second);
}

// 16 unsynced writes to distinct sectors and 8 unsynced creates; returns which survived.
std::string SubsetOutcome(uint64_t seed, CrashReport* report) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/data", Bytes(16 * kSectorBytes, '.'));
  auto f = env.OpenFile("/db/data", OpenMode::kReadWrite);
  EXPECT_TRUE(f.ok());
  for (int i = 0; i < 16; ++i) {
    EXPECT_TRUE((*f)->WriteAt(i * kSectorBytes, Bytes(kSectorBytes, 'a' + i)).ok());
  }
  for (int i = 0; i < 8; ++i) {
    auto g = env.OpenFile("/db/new" + std::to_string(i), OpenMode::kCreate);
    EXPECT_TRUE(g.ok());
  }
  *report = env.SimulateCrash(CrashModel::kKeepRandomSubset, seed);
  std::string outcome;
  std::string now = ReadCurrent(&env, "/db/data");
  for (int i = 0; i < 16; ++i) outcome += now[i * kSectorBytes];
  outcome += '|';
  for (int i = 0; i < 8; ++i) outcome += env.FileExists("/db/new" + std::to_string(i)) ? '1' : '0';
  return outcome;
}

TEST(FaultEnvCrash, RandomSubsetKeepsSomeDropsSomeDeterministically) {
  std::set<std::string> outcomes;
  uint64_t kept = 0, dropped = 0, dir_kept = 0, dir_dropped = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    CrashReport r1, r2;
    const std::string a = SubsetOutcome(seed, &r1);
    const std::string b = SubsetOutcome(seed, &r2);
    EXPECT_EQ(a, b) << "same seed, same result (seed " << seed << ")";
    outcomes.insert(a);
    kept += r1.file_ops_kept;
    dropped += r1.file_ops_dropped;
    dir_kept += r1.dir_ops_kept;
    dir_dropped += r1.dir_ops_dropped;
    // Each sector holds its old or its new byte, never anything else.
    for (int i = 0; i < 16; ++i) EXPECT_TRUE(a[i] == '.' || a[i] == 'a' + i) << a;
  }
  EXPECT_GT(outcomes.size(), 45u);
  EXPECT_GT(kept, 16u * 50 / 4);
  EXPECT_GT(dropped, 16u * 50 / 4);
  EXPECT_GT(dir_kept, 8u * 50 / 4);
  EXPECT_GT(dir_dropped, 8u * 50 / 4);
}

TEST(FaultEnvCrash, RandomSubsetReordersOverlappingWrites) {
  std::set<std::string> results;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    FaultInjectionEnv env;
    MakeDurableDir(&env);
    WriteDurableFile(&env, "/db/x", "0");
    auto f = env.OpenFile("/db/x", OpenMode::kReadWrite);
    ASSERT_OK(f);
    ASSERT_OK((*f)->WriteAt(0, "1"));
    ASSERT_OK((*f)->WriteAt(0, "2"));
    env.SimulateCrash(CrashModel::kKeepRandomSubset, seed);
    results.insert(ReadCurrent(&env, "/db/x"));
  }
  // "1" after both were kept means the older write landed last.
  EXPECT_EQ(results, (std::set<std::string>{"0", "1", "2"}));
}

TEST(FaultEnvFaults, FailOpOnceVersusPersistent) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  auto f = env.OpenFile("/db/f", OpenMode::kCreate);
  ASSERT_OK(f);
  const uint64_t next = env.op_count() + 1;
  env.FailOp(next, FailMode::kOnce, EIO);
  Status s = (*f)->WriteAt(0, "x");
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("injected fault"), std::string::npos);
  EXPECT_NE(env.LastFault().find("k=" + std::to_string(next)), std::string::npos)
      << env.LastFault();
  EXPECT_EQ(ReadCurrent(&env, "/db/f"), "");  // the failed write did nothing
  EXPECT_OK((*f)->WriteAt(0, "y"));           // once: the next op runs

  env.FailOp(env.op_count() + 2, FailMode::kPersistent, ENOSPC);
  EXPECT_OK((*f)->WriteAt(1, "z"));
  for (int i = 0; i < 5; ++i) {
    Status p = (*f)->WriteAt(2, "w");
    EXPECT_TRUE(p.IsNoSpace()) << p.ToString();
    EXPECT_TRUE((*f)->Sync().IsNoSpace());
  }
  env.ClearFaults();
  EXPECT_OK((*f)->WriteAt(2, "w"));
  EXPECT_EQ(ReadCurrent(&env, "/db/f"), "yzw");
}

TEST(FaultEnvFaults, FailOpInMutatingScopeSkipsReads) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/f", "abc");
  auto f = env.OpenFile("/db/f", OpenMode::kReadWrite);
  ASSERT_OK(f);
  env.FailOp(env.mutating_op_count() + 1, FailMode::kPersistent, EIO, OpScope::kMutatingOp);
  char buf[3];
  size_t got = 0;
  EXPECT_OK((*f)->ReadAt(0, 3, buf, &got));  // reads still work
  EXPECT_TRUE((*f)->WriteAt(0, "x").IsIOError());
  EXPECT_TRUE(env.OpenFile("/db/g", OpenMode::kCreate).status().IsIOError());
  EXPECT_TRUE(env.OpenFile("/db/missing", OpenMode::kReadOnly).status().IsNotFound());
}

TEST(FaultEnvFaults, InjectedEnoentOnOpenIsNotFound) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/f", "abc");
  env.FailOp(env.op_count() + 1, FailMode::kOnce, ENOENT);
  EXPECT_TRUE(env.OpenFile("/db/f", OpenMode::kReadOnly).status().IsNotFound());
}

TEST(FaultEnvFaults, EioOnSyncDropsDirtyDataAndRetryLies) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/log", "committed|");
  auto f = env.OpenFile("/db/log", OpenMode::kReadWrite);
  ASSERT_OK(f);
  ASSERT_OK((*f)->WriteAt(10, "acknowledged?"));
  env.FailSyncWithEio(env.sync_count() + 1);
  Status s = (*f)->Sync();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(env.LastFault().find("FailSyncWithEio"), std::string::npos);
  // The dirty pages are gone: reads return the durable bytes...
  EXPECT_EQ(ReadCurrent(&env, "/db/log"), "committed|");
  // ...and a retried fdatasync "succeeds" while nothing of the lost write is on disk.
  EXPECT_OK((*f)->Sync());
  env.SimulateCrash(CrashModel::kKeepAll, 0);
  EXPECT_EQ(ReadCurrent(&env, "/db/log"), "committed|");
}

TEST(FaultEnvFaults, EioOnSyncFromWriteAtAndSync) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/log", "");
  auto f = env.OpenFile("/db/log", OpenMode::kReadWrite);
  ASSERT_OK(f);
  const uint64_t ops = env.op_count();
  ASSERT_OK((*f)->WriteAtAndSync(0, "one"));
  EXPECT_EQ(env.op_count(), ops + 2);  // a write and a sync
  env.FailSyncWithEio(env.sync_count() + 1);
  EXPECT_TRUE((*f)->WriteAtAndSync(3, "two").IsIOError());
  std::string durable;
  ASSERT_OK(env.ReadDurable("/db/log", &durable));
  EXPECT_EQ(durable, "one");
}

TEST(FaultEnvFaults, SpaceLimitThenRecovery) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  env.SetSpaceLimitBytes(10000);
  auto a = env.OpenFile("/db/a", OpenMode::kCreate);
  ASSERT_OK(a);
  ASSERT_OK((*a)->WriteAt(0, Bytes(6000, 'a')));
  auto b = env.OpenFile("/db/b", OpenMode::kCreate);
  ASSERT_OK(b);
  ASSERT_OK((*b)->WriteAt(0, Bytes(4000, 'b')));  // exactly at the limit
  Status s = (*b)->WriteAt(4000, "x");
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_NE(env.LastFault().find("SetSpaceLimitBytes(10000)"), std::string::npos);
  EXPECT_EQ(*(*b)->Size(), 4000u);  // nothing written
  EXPECT_TRUE((*b)->Allocate(0, 8192, /*keep_size=*/true).IsNoSpace());
  EXPECT_TRUE((*b)->Truncate(5000).IsNoSpace());
  EXPECT_OK((*b)->WriteAt(0, Bytes(4000, 'B')));  // overwriting needs no space
  ASSERT_OK(env.DeleteFile("/db/a"));             // space comes back
  EXPECT_OK((*b)->WriteAt(4000, Bytes(5000, 'x')));
  EXPECT_EQ(env.StoredBytes(), 9000u);

  env.SetSpaceLimitBytes(FaultPlan::kUnlimited);
  env.SetNoSpace(true);
  EXPECT_TRUE((*b)->WriteAt(9000, "y").IsNoSpace());
  EXPECT_OK((*b)->WriteAt(0, "z"));
  env.SetNoSpace(false);
  EXPECT_OK((*b)->WriteAt(9000, "y"));
}

// The workload for the crash-point test: create, then 1-byte appends with a sync every third.
void CrashPointWorkload(FaultInjectionEnv* env) {
  auto f = env->OpenFile("/db/f", OpenMode::kCreate);
  if (!f.ok()) return;
  for (int i = 0; i < 12; ++i) {
    if (!(*f)->WriteAt(i, std::string(1, static_cast<char>('a' + i))).ok()) return;
    if (i % 3 == 2 && !(*f)->Sync().ok()) return;
  }
}

TEST(FaultEnvFaults, CrashAtOpStopsAtExactlyTheKthMutatingOp) {
  uint64_t total = 0;
  {
    FaultInjectionEnv env;
    MakeDurableDir(&env);
    const uint64_t before = env.mutating_op_count();
    CrashPointWorkload(&env);
    total = env.mutating_op_count() - before;
  }
  ASSERT_EQ(total, 1u + 12u + 4u);
  for (uint64_t k = 1; k <= total; ++k) {
    FaultInjectionEnv env;
    MakeDurableDir(&env);
    ASSERT_OK(env.SyncDir(kDir));
    const uint64_t base = env.mutating_op_count();
    env.CrashAtOp(base + k);
    CrashPointWorkload(&env);
    EXPECT_TRUE(env.crash_point_reached());
    EXPECT_EQ(env.mutating_op_count(), base + k);  // the workload stopped at the first refusal
    Status later = env.SyncDir(kDir);
    EXPECT_TRUE(later.IsIOError());
    EXPECT_NE(later.message().find("simulated crash"), std::string::npos) << later.ToString();
    EXPECT_NE(env.LastFault().find("CrashAtOp(k=" + std::to_string(base + k) + ")"),
              std::string::npos)
        << env.LastFault();
    // Ops 1..k-1 happened: with kKeepAll the file holds exactly their effect.
    env.SimulateCrash(CrashModel::kKeepAll, 0);
    EXPECT_FALSE(env.crash_point_reached());
    EXPECT_NE(env.LastFault().find("then SimulateCrash"), std::string::npos);
    if (k == 1) {
      EXPECT_FALSE(env.FileExists("/db/f"));
      continue;
    }
    // Mutating ops after the create: w w w s w w w s ... (4 per 3 bytes).
    const uint64_t done = k - 2;  // ops after the create that completed
    const uint64_t bytes = done - done / 4;
    std::string expect;
    for (uint64_t i = 0; i < bytes; ++i) expect += static_cast<char>('a' + i);
    EXPECT_EQ(ReadCurrent(&env, "/db/f"), expect) << "k=" << k;
  }
}

TEST(FaultEnvFaults, FailRandomOpsIsDeterministicPerSeed) {
  auto run = [](uint64_t seed) {
    FaultInjectionEnv env;
    MakeDurableDir(&env);
    env.FailRandomOps(4, seed, EIO);
    auto f = env.OpenFile("/db/f", OpenMode::kCreate);
    std::string pattern;
    if (!f.ok()) return std::string("open failed");
    for (int i = 0; i < 64; ++i) pattern += (*f)->WriteAt(i, "x").ok() ? '.' : 'X';
    return pattern + " " + env.LastFault();
  };
  EXPECT_EQ(run(9), run(9));
  EXPECT_NE(run(9), run(10));
  EXPECT_NE(run(9).find("seed=9"), std::string::npos);
}

TEST(FaultEnvDamage, FlipBitIsVisibleToReadsAndSurvivesCrashes) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/sb", "ABCD");
  auto f = env.OpenFile("/db/sb", OpenMode::kReadOnly);
  ASSERT_OK(f);
  ASSERT_OK(env.FlipBit("/db/sb", 2, 0));  // 'C' ^ 1 = 'B'
  char buf[4];
  size_t got = 0;
  ASSERT_OK((*f)->ReadAt(0, 4, buf, &got));
  EXPECT_EQ(std::string(buf, got), "ABBD");
  std::string durable;
  ASSERT_OK(env.ReadDurable("/db/sb", &durable));
  EXPECT_EQ(durable, "ABBD");
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  EXPECT_EQ(ReadCurrent(&env, "/db/sb"), "ABBD");
  EXPECT_TRUE(env.FlipBit("/db/sb", 4, 0).IsInvalidArgument());
  EXPECT_TRUE(env.FlipBit("/db/sb", 0, 8).IsInvalidArgument());
}

TEST(FaultEnvDamage, CorruptBytesChangesEveryByteDeterministically) {
  std::string results[2];
  for (std::string& out : results) {
    FaultInjectionEnv env;
    MakeDurableDir(&env);
    WriteDurableFile(&env, "/db/x", Bytes(100, 'q'));
    ASSERT_OK(env.CorruptBytes("/db/x", 10, 20, 77));
    out = ReadCurrent(&env, "/db/x");
    EXPECT_NE(env.LastFault().find("seed=77"), std::string::npos);
  }
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0].substr(0, 10), Bytes(10, 'q'));
  EXPECT_EQ(results[0].substr(30), Bytes(70, 'q'));
  for (int i = 10; i < 30; ++i) EXPECT_NE(results[0][i], 'q');
}

TEST(FaultEnvDamage, FlipBitOnUnsyncedBytesReachesDisk) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/x", "aaaa");
  auto f = env.OpenFile("/db/x", OpenMode::kReadWrite);
  ASSERT_OK(f);
  ASSERT_OK((*f)->WriteAt(1, "bb"));
  ASSERT_OK(env.FlipBit("/db/x", 1, 1));  // 'b' ^ 2 = '`'
  EXPECT_EQ(ReadCurrent(&env, "/db/x"), "a`ba");
  ASSERT_OK((*f)->Sync());
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  EXPECT_EQ(ReadCurrent(&env, "/db/x"), "a`ba");
}

TEST(FaultEnvHandles, HandlesAndLocksFromBeforeTheCrashAreDead) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/f", "data");
  auto f = env.OpenFile("/db/f", OpenMode::kReadWrite);
  ASSERT_OK(f);
  auto lock = env.LockDir("/db", LockMode::kExclusive);
  ASSERT_OK(lock);
  EXPECT_TRUE(env.LockDir("/db", LockMode::kExclusive).status().IsBusy());
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);

  char buf[4];
  size_t got = 0;
  for (Status s : {(*f)->WriteAt(0, "x"), (*f)->ReadAt(0, 4, buf, &got), (*f)->Sync(),
                   (*f)->Truncate(0), (*f)->Size().status(), (*f)->Map(0, 4096).status()}) {
    EXPECT_TRUE(s.IsIOError()) << s.ToString();
    EXPECT_NE(s.message().find("file handle from before the crash"), std::string::npos);
  }
  // The crash released the lock; the old holder's destructor must not release the new one.
  auto relock = env.LockDir("/db", LockMode::kExclusive);
  ASSERT_OK(relock);
  lock->reset();
  EXPECT_TRUE(env.LockDir("/db", LockMode::kExclusive).status().IsBusy());
  relock->reset();
  EXPECT_OK(env.LockDir("/db", LockMode::kExclusive));

  auto reopened = env.OpenFile("/db/f", OpenMode::kReadWrite);
  ASSERT_OK(reopened);
  EXPECT_OK((*reopened)->WriteAt(4, "!"));
  EXPECT_EQ(ReadCurrent(&env, "/db/f"), "data!");
}

TEST(FaultEnvMap, MappingFollowsLaterWrites) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  auto f = env.OpenFile("/db/seg", OpenMode::kCreate);
  ASSERT_OK(f);
  ASSERT_OK((*f)->WriteAt(0, "abc"));
  auto region = (*f)->Map(0, 8192);
  ASSERT_OK(region);
  EXPECT_EQ((*region)->size(), 8192u);
  EXPECT_EQ(std::string((*region)->data(), 3), "abc");
  ASSERT_OK((*f)->WriteAt(4096, "later"));  // MAP_SHARED: visible through the mapping
  EXPECT_EQ(std::string((*region)->data() + 4096, 5), "later");
  ASSERT_OK((*f)->Truncate(1));
  EXPECT_EQ(std::string((*region)->data(), 3), std::string("a\0\0", 3));
  region->reset();
  ASSERT_OK((*f)->WriteAt(0, "after unmap"));
}

TEST(FaultEnvThreads, ConcurrentWritersAndSyncers) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  constexpr int kThreads = 4, kWrites = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&env, t] {
      auto f = env.OpenFile("/db/t" + std::to_string(t), OpenMode::kCreate);
      ASSERT_TRUE(f.ok());
      for (int i = 0; i < kWrites; ++i) {
        ASSERT_TRUE((*f)->WriteAt(i * 8, "01234567").ok());
        if (i % 50 == 0) {
          ASSERT_TRUE((*f)->Sync().ok());
        }
      }
      ASSERT_TRUE((*f)->Sync().ok());
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_OK(env.SyncDir(kDir));
  env.SimulateCrash(CrashModel::kDropUnsynced, 0);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(*env.FileSize("/db/t" + std::to_string(t)), kWrites * 8u);
  }
}

TEST(FaultEnvSpeed, ThousandsOfCrashesPerSecond) {
  FaultInjectionEnv env;
  MakeDurableDir(&env);
  WriteDurableFile(&env, "/db/SUPER", Bytes(4096, 's'));
  constexpr int kCrashes = 3000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCrashes; ++i) {
    auto log = env.OpenFile("/db/log", OpenMode::kCreate);
    ASSERT_OK(log);
    for (int j = 0; j < 8; ++j) ASSERT_OK((*log)->WriteAt(j * 256, Bytes(256, 'r')));
    ASSERT_OK((*log)->Sync());
    env.SimulateCrash(kAllCrashModels[i % kAllCrashModels.size()], i);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d simulated crashes in %.3f s (%.0f per second)\n", kCrashes, seconds,
              kCrashes / seconds);
  EXPECT_LT(seconds, 3.0);
}

TEST(FaultEnvClock, FakeClockMovesOnlyWhenAdvanced) {
  FaultInjectionEnv env;
  const uint64_t real = env.NowMicros();
  EXPECT_GT(real, 0u);
  env.UseFakeClock(1000);
  EXPECT_EQ(env.NowMicros(), 1000u);
  env.AdvanceFakeClockMicros(250);
  EXPECT_EQ(env.NowMicros(), 1250u);
}

}  // namespace
}  // namespace cowtree::testutil
