#include "testutil/workload.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <vector>

#include "persistence/file_names.h"
#include "testutil/fault_injection_env.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::testutil {

const char* StepKindName(StepKind kind) {
  switch (kind) {
    case StepKind::kNone:
      return "none";
    case StepKind::kOpen:
      return "open";
    case StepKind::kCommit:
      return "commit";
    case StepKind::kCheckpoint:
      return "checkpoint";
    case StepKind::kSyncLog:
      return "synclog";
    case StepKind::kClose:
      return "close";
    case StepKind::kRead:
      return "read";
    case StepKind::kCompact:
      return "compact";
  }
  return "?";
}

bool LongSweep() {
  const char* s = std::getenv("COWTREE_SWEEP_SCALE");
  return s != nullptr && std::string(s) == "long";
}

std::string WorkloadReplayText(const WorkloadOptions& options) {
  std::string text = std::to_string(options.seed) + ":" + std::to_string(options.scale);
  if (options.cache_bytes != 0) text += ":" + std::to_string(options.cache_bytes);
  return text;
}

WorkloadOptions ParseWorkloadReplay(const std::string& text, WorkloadOptions base) {
  const size_t a = text.find(':');
  base.seed = std::stoull(text.substr(0, a));
  if (a == std::string::npos) return base;
  const size_t b = text.find(':', a + 1);
  base.scale = std::stoi(text.substr(a + 1, b == std::string::npos ? b : b - a - 1));
  if (b != std::string::npos) base.cache_bytes = std::stoull(text.substr(b + 1));
  return base;
}

std::vector<WorkloadOptions> SweepWorkloads() {
  std::vector<WorkloadOptions> w(1);
  if (LongSweep()) {
    w.emplace_back();
    w.back().seed = 2;
    w.back().scale = 2;
  }
  return w;
}

RuntimeOptions WorkloadRuntimeOptions(Env* env, Durability durability) {
  RuntimeOptions o;
  o.env = env;
  o.durability = durability;
  o.background_thread = false;
  o.leaf_capacity_entries = 8;
  o.fanout = 4;
  o.log_file_size_max_bytes = 64 << 10;  // the minimum: rotation after a few large commits
  // The minimum: the workload's few hundred KiB of objects span several segments, so that
  // its compaction round has segments to empty and cut.
  o.segment_size_bytes = 64 << 10;
  o.checkpoint_log_bytes = 0;
  o.checkpoint_interval_ms = 0;
  return o;
}

namespace {

// Adds `ops` random (key, weight) ops over `names` to the batch and to *next: weights in
// [-2, 4], sometimes exactly the negated current weight (delete to zero).
void RandomOps(DeterministicRng* rng, int ops, int64_t key_range,
               const std::vector<std::string>& names, const std::map<std::string, TreeId>& ids,
               RuntimeWriteBatch* batch, StoreModel* next) {
  for (int i = 0; i < ops; ++i) {
    const std::string& name = names[rng->Uniform(names.size())];
    TreeModel& m = (*next)[name];
    const int64_t key = static_cast<int64_t>(rng->Uniform(key_range)) - key_range / 2;
    int64_t w = static_cast<int64_t>(rng->Uniform(7)) - 2;
    if (w == 0) w = 3;
    auto it = m.find(key);
    if (it != m.end() && rng->OneIn(5)) w = -it->second;
    tree::AppendOrderStatOp(batch->MutableOps(ids.at(name)), tree::EncodeInt64Key(key), w);
    if ((m[key] += w) == 0) m.erase(key);
  }
}

std::map<std::string, TreeId> LiveTreeIds(Runtime* rt) {
  std::map<std::string, TreeId> ids;
  RuntimeSnapshot snap = rt->GetSnapshot();
  for (const TreeInfo& t : rt->ListTrees(snap)) ids[t.name] = t.id;
  return ids;
}

}  // namespace

CrashWorkload::CrashWorkload(Env* env, StoreFns fns, WorkloadOptions options)
    : env_(env), fns_(std::move(fns)), options_(std::move(options)), rng_(options_.seed) {}

CrashWorkload::~CrashWorkload() = default;

Status CrashWorkload::Step(StepKind kind, std::string label, const Status& st) {
  step_ = "phase " + std::to_string(phase_) + " (" + DurabilityName(durability_) +
          "): " + std::move(label);
  step_kind_ = kind;
  if (st.IsCorruption() && violation_.empty()) violation_ = step_ + ": " + st.ToString();
  return st;
}

void CrashWorkload::NoteFiles() {
  auto* fenv = dynamic_cast<FaultInjectionEnv*>(env_);
  if (fenv == nullptr) return;
  std::vector<std::string> names;
  if (!fenv->ListDurable(options_.dir, &names).ok()) return;
  for (const std::string& n : names) {
    FileKind kind;
    uint64_t number = 0;
    if (!ParseFileName(n, &kind, &number)) continue;
    if (kind == FileKind::kLog) coverage_.max_log_file = std::max(coverage_.max_log_file, number);
    if (kind == FileKind::kOtCheckpoint) {
      coverage_.max_ot_checkpoint = std::max(coverage_.max_ot_checkpoint, number);
    }
    if (kind == FileKind::kManifest) {
      coverage_.max_manifest = std::max(coverage_.max_manifest, number);
    }
  }
}

Status CrashWorkload::Open(Durability durability, bool checkpoint_on_close) {
  durability_ = durability;
  RuntimeOptions o = WorkloadRuntimeOptions(env_, durability_);
  o.checkpoint_on_close = checkpoint_on_close;
  o.summary_chunk_entries_max = options_.summary_chunk_entries_max;
  o.summary_index_refs_max = options_.summary_index_refs_max;
  o.catalog_chunk_entries_max = options_.catalog_chunk_entries_max;
  o.catalog_root_chunks_max = options_.catalog_root_chunks_max;
  o.log_zero_fill_bytes = options_.log_zero_fill_bytes;
  o.cache_bytes = options_.cache_bytes;
  o.cache_bytes_small_for_test = options_.cache_bytes != 0 && options_.cache_bytes < (1u << 20);
  auto rt = fns_.open(options_.dir, o);
  COWTREE_RETURN_IF_ERROR(Step(StepKind::kOpen, "open", rt.status()));
  rt_ = std::move(rt).value();
  requested_checkpoints_ = 0;
  noted_checkpoints_ = rt_->checkpoints_written();
  noted_evictions_ = rt_->memory_budget()->stats().evictions;
  ++coverage_.reopens;
  // Every open follows a clean close (Run stops at the first error): nothing may be missing.
  const uint64_t epoch = rt_->visible_epoch();
  if (epoch != oracle_.attempted() && violation_.empty()) {
    violation_ = step_ + ": recovered epoch " + std::to_string(epoch) + " after a clean close, " +
                 "expected " + std::to_string(oracle_.attempted());
    return Status::Corruption(violation_);
  }
  oracle_.OpenedAt(epoch);
  NoteFiles();
  return Status::OK();
}

Status CrashWorkload::CommitBatch(RuntimeWriteBatch* batch, StoreModel next) {
  oracle_.BeginCommit(std::move(next));
  const Status st = rt_->Commit(*batch);
  if (st.ok()) {
    oracle_.AckCommit(durability_);
    ++coverage_.commits;
  }
  return st;
}

Status CrashWorkload::CommitRandom(int ops, int64_t key_range, const std::string& label) {
  StoreModel next = oracle_.latest();
  std::map<std::string, TreeId> ids = LiveTreeIds(rt_.get());
  std::vector<std::string> names;
  for (const auto& [name, id] : ids) names.push_back(name);
  RuntimeWriteBatch batch(rt_.get());
  if (names.empty()) {  // the first commit of the store creates a, b, c
    for (const char* name : {"a", "b", "c"}) {
      ids[name] =
          batch.CreateTree(name, tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
      names.push_back(name);
      next[name];
    }
  }
  RandomOps(&rng_, ops, key_range, names, ids, &batch, &next);
  return Step(StepKind::kCommit, label, CommitBatch(&batch, std::move(next)));
}

// Drops b in one commit (with ops on a), then creates d and re-creates b in a later one.
Status CrashWorkload::DropAndRecreate() {
  {
    StoreModel next = oracle_.latest();
    std::map<std::string, TreeId> ids = LiveTreeIds(rt_.get());
    RuntimeWriteBatch batch(rt_.get());
    batch.DropTree(ids.at("b"));
    next.erase("b");
    RandomOps(&rng_, 10, 120, {"a"}, ids, &batch, &next);
    COWTREE_RETURN_IF_ERROR(
        Step(StepKind::kCommit, "drop b", CommitBatch(&batch, std::move(next))));
    ++coverage_.tree_drops;
  }
  COWTREE_RETURN_IF_ERROR(CommitRandom(20, 120, "commit after the drop"));
  StoreModel next = oracle_.latest();
  std::map<std::string, TreeId> ids = LiveTreeIds(rt_.get());
  RuntimeWriteBatch batch(rt_.get());
  for (const char* name : {"b", "d"}) {
    ids[name] =
        batch.CreateTree(name, tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
    next[name];
  }
  RandomOps(&rng_, 40, 120, {"b", "d", "c"}, ids, &batch, &next);
  return Step(StepKind::kCommit, "create d, re-create b", CommitBatch(&batch, std::move(next)));
}

Status CrashWorkload::Checkpoint() {
  const uint64_t before = rt_->checkpoints_written();
  const Status st = rt_->Checkpoint();
  requested_checkpoints_ += rt_->checkpoints_written() - before;
  if (st.ok()) {
    oracle_.AckSync();
    ++coverage_.checkpoints;
    NoteFiles();
  }
  return Step(StepKind::kCheckpoint, "checkpoint", st);
}

Status CrashWorkload::Compact() {
  CompactionOptions co;
  co.dead_ratio = 0;
  CompactionReport report;
  const uint64_t before = rt_->checkpoints_written();
  const Status st = rt_->Compact(co, &report);
  const uint64_t checkpoints = rt_->checkpoints_written() - before;
  requested_checkpoints_ += checkpoints;
  if (st.ok()) {
    // A round that checkpointed synced the log (every acknowledged commit is durable); one
    // that found nothing to move may have written nothing.
    if (checkpoints > 0) oracle_.AckSync();
    ++coverage_.compactions;
    coverage_.objects_relocated += report.objects_relocated;
    NoteFiles();
  }
  return Step(StepKind::kCompact, "compact", st);
}

void CrashWorkload::NoteBudget() {
  const uint64_t checkpoints = rt_->checkpoints_written();
  const uint64_t evictions = rt_->memory_budget()->stats().evictions;
  coverage_.unrequested_checkpoints += checkpoints - noted_checkpoints_ - requested_checkpoints_;
  coverage_.evictions += evictions - noted_evictions_;
  noted_checkpoints_ = checkpoints;
  noted_evictions_ = evictions;
  requested_checkpoints_ = 0;
}

Status CrashWorkload::SyncLog() {
  const Status st = rt_->SyncLog();
  if (st.ok()) oracle_.AckSync();
  return Step(StepKind::kSyncLog, "synclog", st);
}

Status CrashWorkload::Close() {
  NoteBudget();  // before the checkpoint on close
  const Status st = rt_->Close();
  rt_.reset();  // closed (or dead) either way: Close does not leave a usable runtime
  if (st.ok()) {
    oracle_.AckSync();
    NoteFiles();
  }
  return Step(StepKind::kClose, "close", st);
}

Status CrashWorkload::Reread(bool evict) {
  if (evict) rt_->EvictClean();
  StoreModel got;
  COWTREE_RETURN_IF_ERROR(
      Step(StepKind::kRead, evict ? "evict + re-read" : "re-read", ReadStore(rt_.get(), &got)));
  ++coverage_.rereads;
  const std::string diff = DiffStores(oracle_.latest(), got);
  if (!diff.empty()) {
    if (violation_.empty()) violation_ = step_ + ": " + diff;
    return Status::Corruption(violation_);
  }
  return Status::OK();
}

Status CrashWorkload::Phase(int phase, Durability durability, bool checkpoint_on_close) {
  phase_ = phase;
  const int s = std::max(1, options_.scale);
  auto commits = [&](int n, int ops, int64_t range) -> Status {
    for (int i = 0; i < n; ++i) {
      COWTREE_RETURN_IF_ERROR(CommitRandom(ops, range, "commit " + std::to_string(i)));
    }
    return Status::OK();
  };
  COWTREE_RETURN_IF_ERROR(Open(durability, checkpoint_on_close));
  switch (phase) {
    case 1:
      COWTREE_RETURN_IF_ERROR(commits(1, 60, 120));  // creates a, b, c
      COWTREE_RETURN_IF_ERROR(commits(4 * s, 25, 120));
      COWTREE_RETURN_IF_ERROR(Checkpoint());
      COWTREE_RETURN_IF_ERROR(commits(3 * s, 25, 120));
      COWTREE_RETURN_IF_ERROR(Checkpoint());
      COWTREE_RETURN_IF_ERROR(commits(2 * s, 25, 120));
      break;
    case 2:
      COWTREE_RETURN_IF_ERROR(Reread(/*evict=*/true));
      COWTREE_RETURN_IF_ERROR(commits(3 * s, 25, 120));
      COWTREE_RETURN_IF_ERROR(SyncLog());
      COWTREE_RETURN_IF_ERROR(DropAndRecreate());
      COWTREE_RETURN_IF_ERROR(Checkpoint());
      COWTREE_RETURN_IF_ERROR(commits(2 * s, 25, 120));
      break;
    case 3:
      COWTREE_RETURN_IF_ERROR(Reread(/*evict=*/false));
      // ~6.4 KB of log per commit on a narrow key range: the 64 KiB log rotates, the trees
      // barely grow.
      COWTREE_RETURN_IF_ERROR(commits(12, 400, 40));
      COWTREE_RETURN_IF_ERROR(Checkpoint());
      COWTREE_RETURN_IF_ERROR(Reread(/*evict=*/true));
      COWTREE_RETURN_IF_ERROR(Compact());
      COWTREE_RETURN_IF_ERROR(Reread(/*evict=*/true));
      COWTREE_RETURN_IF_ERROR(commits(2 * s, 25, 120));
      COWTREE_RETURN_IF_ERROR(SyncLog());
      COWTREE_RETURN_IF_ERROR(commits(2 * s, 25, 120));
      break;
  }
  return Close();
}

Status CrashWorkload::Run() {
  COWTREE_RETURN_IF_ERROR(Phase(1, Durability::kStrict, /*checkpoint_on_close=*/true));
  COWTREE_RETURN_IF_ERROR(Phase(2, Durability::kBalanced, /*checkpoint_on_close=*/false));
  return Phase(3, Durability::kEventual, /*checkpoint_on_close=*/true);
}

std::string VerifyRecovery(Env* env, const StoreFns& fns, const std::string& dir,
                           const Oracle& oracle, uint64_t floor, uint64_t seed, uint64_t* epoch_out,
                           uint64_t cache_bytes) {
  const RuntimeOptions o = WorkloadRuntimeOptions(env, Durability::kStrict);
  RuntimeOptions first = o;
  first.cache_bytes = cache_bytes;
  first.cache_bytes_small_for_test = cache_bytes != 0 && cache_bytes < (1u << 20);
  auto opened = fns.open(dir, first);
  if (!opened.ok()) return "open after the crash failed: " + opened.status().ToString();
  std::unique_ptr<Runtime> rt = std::move(opened).value();
  uint64_t j = 0;
  std::string v = CheckRecovered(rt.get(), oracle, floor, &j);
  if (epoch_out != nullptr) *epoch_out = j;
  if (!v.empty()) return v;

  // The recovered store accepts a new commit (a new tree and ops on the old ones) and a
  // checkpoint.
  Oracle after = oracle;
  after.TruncateTo(j);
  after.OpenedAt(j);
  StoreModel next = after.latest();
  std::map<std::string, TreeId> ids = LiveTreeIds(rt.get());
  std::vector<std::string> names;
  for (const auto& [name, id] : ids) names.push_back(name);
  RuntimeWriteBatch batch(rt.get());
  ids["post"] =
      batch.CreateTree("post", tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(tree::KeyType::kInt64));
  names.push_back("post");
  next["post"];
  DeterministicRng rng(seed);
  RandomOps(&rng, 30, 120, names, ids, &batch, &next);
  after.BeginCommit(next);
  Status st = rt->Commit(batch);
  if (!st.ok()) return "commit after recovery to epoch " + std::to_string(j) + ": " + st.ToString();
  st = rt->Checkpoint();
  if (!st.ok()) return "checkpoint after recovery: " + st.ToString();
  StoreModel got;
  st = ReadStore(rt.get(), &got);
  if (!st.ok()) return "read after the post-recovery commit: " + st.ToString();
  if (std::string d = DiffStores(next, got); !d.empty()) return "after the new commit: " + d;
  st = rt->Close();
  if (!st.ok()) return "close after recovery: " + st.ToString();
  rt.reset();
  if (fns.fsck) {
    if (std::string f = fns.fsck(env, dir); !f.empty()) return "fsck after recovery: " + f;
  }

  // ... and reopens to the same state.
  opened = fns.open(dir, o);
  if (!opened.ok()) return "second reopen failed: " + opened.status().ToString();
  rt = std::move(opened).value();
  if (rt->visible_epoch() != j + 1) {
    return "second reopen: epoch " + std::to_string(rt->visible_epoch()) + ", expected " +
           std::to_string(j + 1);
  }
  rt->EvictClean();
  st = ReadStore(rt.get(), &got);
  if (!st.ok()) return "read after the second reopen: " + st.ToString();
  if (std::string d = DiffStores(next, got); !d.empty()) return "after the second reopen: " + d;
  st = rt->Close();
  if (!st.ok()) return "close after the second reopen: " + st.ToString();
  return "";
}

}  // namespace cowtree::testutil
