// Soak (issue 3, item 8): a child process writes to a store with one writer thread and 2–3
// concurrent snapshot readers, and is killed with SIGKILL at random moments; the parent reopens
// the store after every kill and checks it against an expected-state oracle. Cycles continue on
// the SAME store, so every cycle also checks reopen-then-keep-writing.
//
// The oracle is a pure function of (seed, commit number j): commit i is generated from the
// seed, i and the oracle state after commit i - 1 (creates, drops, recreates, inserts, negative
// weights, deletes to zero, bulk loads that make trees deep), so state(j) is obtained by
// replaying commits 1..j. Every commit is non-empty and the store starts empty, so the epoch of
// commit i is i; the writer checks that mapping on every commit and the parent on every reopen.
//
// Child (forked before any thread exists; runs the library in-process, then _exit):
//   - opens the store with recovery::Open (durability strict, or balanced in some cycles:
//     both survive kill -9), a small checkpoint_log_bytes so that checkpoints run concurrently
//     with commits, a small log rotation size, and a random tree shape (deep trees when small);
//   - checks that the recovered epoch is the one the parent verified and that the state is
//     exactly the oracle's;
//   - writer: for i = j0 + 1, ...: publishes oracle state(i) (shared, immutable) in a
//     mutex-protected map, commits batch i, checks the returned epoch is i, then writes
//     "A i snapshots" to the pipe (an acknowledged commit); sometimes also calls Checkpoint()
//     and EvictClean() (so readers load leaves lazily from the object store);
//   - readers: take a snapshot (under the map's mutex so that its epoch is always published),
//     look up the oracle state for snapshot.epoch() and verify the whole snapshot: tree names,
//     types, create epochs, CheckInvariants(v, load_leaves = true), N, every (key, weight)
//     pair, and random Select / Rank / WeightOf / RangePositiveSum / PercentileCont /
//     PercentileDisc (ascending and descending) against the oracle; sometimes they hold the
//     snapshot for a few ms while the writer commits and checkpoints, and verify it again;
//   - any mismatch writes "F <message>" to the pipe and aborts.
// Parent: kills the child after a random delay (some cycles instead end with a clean Close),
// reads the acknowledged commits, reopens in-process (no background thread, random fan-out)
// and requires epoch j with last_acknowledged <= j <= last_acknowledged + 1 (the only commit
// that can have been attempted without being acknowledged) and state == oracle(j).
//
// Environment: COWTREE_SOAK_CYCLES (default 60), COWTREE_SOAK_SEED (replay a workload),
// COWTREE_SOAK_KEEP=1 (keep the store directory). A failure prints the seed and the cycle; the
// store directory is kept on failure. Kill times are derived from the seed but land wherever
// the scheduler is at that moment, so a replay reproduces the workload, not the exact instant.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "recovery/open.h"
#include "tree/check.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree_type.h"
#include "tree/query.h"

namespace cowtree {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t Mix(uint64_t x) {  // SplitMix64 finalizer
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// ---------------------------------------------------------------------------------------------
// Oracle: expected state after commit j, and the deterministic generator of commit i.
// ---------------------------------------------------------------------------------------------

// One tree of the expected state. Immutable once published (shared between commits).
struct OracleTree {
  std::string name;
  tree::KeyType key_type = tree::KeyType::kInt64;
  uint64_t create_commit = 0;
  std::vector<std::pair<uint64_t, int64_t>> entries;  // by key code; no zero weight
  std::vector<uint64_t> cum;                          // cum[i] = positive weight of entries[0..i]
  uint64_t n() const { return cum.empty() ? 0 : cum.back(); }

  void Finish() {
    cum.resize(entries.size());
    uint64_t acc = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      acc += static_cast<uint64_t>(std::max<int64_t>(entries[i].second, 0));
      cum[i] = acc;
    }
  }
  // Positive weight of entries with key < `key`.
  uint64_t Rank(uint64_t key) const {
    auto it = std::lower_bound(entries.begin(), entries.end(), key,
                               [](const auto& e, uint64_t k) { return e.first < k; });
    return it == entries.begin() ? 0 : cum[(it - entries.begin()) - 1];
  }
  int64_t WeightOf(uint64_t key) const {
    auto it = std::lower_bound(entries.begin(), entries.end(), key,
                               [](const auto& e, uint64_t k) { return e.first < k; });
    return it != entries.end() && it->first == key ? it->second : 0;
  }
  // Key of the k-th item (0-based, counting multiplicity).
  std::optional<uint64_t> Select(uint64_t k, bool descending) const {
    const uint64_t total = n();
    if (k >= total) return std::nullopt;
    if (descending) k = total - 1 - k;
    auto it = std::upper_bound(cum.begin(), cum.end(), k);
    return entries[it - cum.begin()].first;
  }
  // PostgreSQL percentile_cont / percentile_disc, written from the SQL definitions.
  std::optional<double> PercentileCont(double p, bool descending) const {
    const uint64_t total = n();
    if (total == 0) return std::nullopt;
    const double pos = p * static_cast<double>(total - 1);
    const double lo = std::floor(pos), hi = std::ceil(pos);
    const double lo_val =
        tree::KeyToDouble(key_type, *Select(static_cast<uint64_t>(lo), descending));
    if (lo == hi) return lo_val;
    const double hi_val =
        tree::KeyToDouble(key_type, *Select(static_cast<uint64_t>(hi), descending));
    return lo_val + ((pos - lo) * (hi_val - lo_val));
  }
  std::optional<uint64_t> PercentileDisc(double p, bool descending) const {
    const uint64_t total = n();
    if (total == 0) return std::nullopt;
    double k = std::ceil(p * static_cast<double>(total));
    if (k < 1) k = 1;
    return Select(std::min<uint64_t>(static_cast<uint64_t>(k), total) - 1, descending);
  }
};
using OracleTreePtr = std::shared_ptr<const OracleTree>;

struct OracleState {
  uint64_t commit = 0;
  std::map<std::string, OracleTreePtr> trees;  // live trees by name
};
using OracleStatePtr = std::shared_ptr<const OracleState>;

// The contents of one commit, by tree name (ids are the runtime's business).
struct CommitSpec {
  std::vector<std::string> drops;
  std::vector<std::pair<std::string, tree::KeyType>> creates;
  // Raw ops in batch order: unsorted, with duplicate keys and sometimes pairs that cancel.
  std::vector<std::pair<std::string, std::vector<std::pair<uint64_t, int64_t>>>> ops;
};

constexpr int kTreeNames = 6;
std::string TreeName(int i) {
  // One long name so catalog entries are not all tiny.
  return i == 5 ? "percentiles/by-route/" + std::string(40, 'x') : "t" + std::to_string(i);
}

uint64_t RandomKey(tree::KeyType kt, std::mt19937_64& rng, int64_t range) {
  if (kt == tree::KeyType::kInt64) {
    const uint64_t r = rng() % 1000;
    if (r == 0) return tree::EncodeInt64Key(std::numeric_limits<int64_t>::min());
    if (r == 1) return tree::EncodeInt64Key(std::numeric_limits<int64_t>::max());
    return tree::EncodeInt64Key(static_cast<int64_t>(rng() % (2 * range + 1)) - range);
  }
  const uint64_t r = rng() % 1000;
  if (r == 0) return tree::EncodeDoubleKey(std::numeric_limits<double>::infinity());
  if (r == 1) return tree::EncodeDoubleKey(-std::numeric_limits<double>::infinity());
  if (r == 2) return tree::EncodeDoubleKey(std::numeric_limits<double>::quiet_NaN());
  if (r == 3) return tree::EncodeDoubleKey(-0.0);
  if (r == 4) return tree::EncodeDoubleKey(1e300);
  if (r == 5) return tree::EncodeDoubleKey(-1e-300);
  return tree::EncodeDoubleKey(
      static_cast<double>(static_cast<int64_t>(rng() % (2 * range + 1)) - range) / 8.0);
}

std::vector<std::pair<uint64_t, int64_t>> GenerateOps(const OracleTree* t, tree::KeyType kt,
                                                      std::mt19937_64& rng, bool bulk) {
  std::vector<std::pair<uint64_t, int64_t>> ops;
  const size_t size = t == nullptr ? 0 : t->entries.size();
  const int64_t range = 1500 + static_cast<int64_t>(rng() % 2000);
  size_t count;
  const uint64_t shape = rng() % 100;
  if (bulk || shape < 4) {
    count = 300 + rng() % 1500;
  } else if (shape < 30) {
    count = 40 + rng() % 260;
  } else {
    count = 1 + rng() % 40;
  }
  // Keep trees bounded: the bigger the tree, the more deletes.
  const uint64_t delete_pct = size > 4000 ? 60 : (size > 2000 ? 35 : 15);
  for (size_t i = 0; i < count; ++i) {
    const uint64_t r = rng() % 100;
    if (size > 0 && r < delete_pct) {
      // Delete an existing entry to zero; sometimes a whole run (leaf merges).
      size_t at = rng() % size;
      const size_t run = rng() % 8 == 0 ? 1 + rng() % 60 : 1;
      for (size_t k = 0; k < run && at + k < size; ++k, ++i) {
        ops.emplace_back(t->entries[at + k].first, -t->entries[at + k].second);
      }
      continue;
    }
    const uint64_t key = RandomKey(kt, rng, range);
    if (r < delete_pct + 3) {  // a pair that cancels out within the batch
      const int64_t w = 1 + static_cast<int64_t>(rng() % 4);
      ops.emplace_back(key, w);
      ops.emplace_back(key, -w);
      continue;
    }
    static constexpr int64_t kWeights[] = {-3, -2, -1, 1, 1, 1, 2, 2, 3, 4, 5, 7};
    ops.emplace_back(key, kWeights[rng() % std::size(kWeights)]);
  }
  return ops;
}

CommitSpec GenerateCommit(uint64_t seed, uint64_t i, const OracleState& prev) {
  std::mt19937_64 rng(Mix(seed ^ Mix(i)));
  CommitSpec spec;
  std::vector<std::string> live, free;
  for (int t = 0; t < kTreeNames; ++t) {
    (prev.trees.count(TreeName(t)) ? live : free).push_back(TreeName(t));
  }
  const uint64_t r = rng() % 100;
  std::vector<std::string> untouchable;  // dropped in this commit
  if (live.size() < 2 || (r < 6 && !free.empty())) {
    const std::string name = free[rng() % free.size()];
    const auto kt = rng() % 3 == 0 ? tree::KeyType::kDouble : tree::KeyType::kInt64;
    spec.creates.emplace_back(name, kt);
    if (rng() % 2 == 0) spec.ops.emplace_back(name, GenerateOps(nullptr, kt, rng, rng() % 2 == 0));
  } else if (r < 9 && live.size() >= 3) {
    const std::string name = live[rng() % live.size()];
    spec.drops.push_back(name);
    untouchable.push_back(name);
  }
  // Ops on 1–3 live trees (none on a tree dropped in this commit), unless the commit already
  // has content and a coin says to keep it small.
  if (!live.empty() && (spec.creates.empty() && spec.drops.empty() ? true : rng() % 2 == 0)) {
    const size_t n = 1 + rng() % 3;
    for (size_t k = 0; k < n; ++k) {
      const std::string& name = live[rng() % live.size()];
      if (std::find(untouchable.begin(), untouchable.end(), name) != untouchable.end()) continue;
      const OracleTree* t = prev.trees.at(name).get();
      spec.ops.emplace_back(name, GenerateOps(t, t->key_type, rng, false));
    }
  }
  if (spec.creates.empty() && spec.drops.empty() && spec.ops.empty()) {
    // Every commit must be non-empty (epoch == commit number): fall back to one op.
    const OracleTree* t = prev.trees.at(live[0]).get();
    spec.ops.emplace_back(
        live[0], std::vector<std::pair<uint64_t, int64_t>>{{RandomKey(t->key_type, rng, 100), 1}});
  }
  return spec;
}

OracleStatePtr ApplyCommit(const OracleState& prev, uint64_t i, const CommitSpec& spec) {
  auto next = std::make_shared<OracleState>();
  next->commit = i;
  next->trees = prev.trees;
  for (const std::string& name : spec.drops) next->trees.erase(name);
  std::map<std::string, std::shared_ptr<OracleTree>> touched;
  for (const auto& [name, kt] : spec.creates) {
    auto t = std::make_shared<OracleTree>();
    t->name = name;
    t->key_type = kt;
    t->create_commit = i;
    touched[name] = t;
  }
  std::map<std::string, std::map<uint64_t, int64_t>> deltas;
  for (const auto& [name, ops] : spec.ops) {
    auto& d = deltas[name];
    for (const auto& [k, w] : ops) d[k] += w;
  }
  for (auto& [name, d] : deltas) {
    std::shared_ptr<OracleTree> t;
    if (auto it = touched.find(name); it != touched.end()) {
      t = it->second;
    } else {
      t = std::make_shared<OracleTree>(*next->trees.at(name));
      touched[name] = t;
    }
    std::vector<std::pair<uint64_t, int64_t>> merged;
    merged.reserve(t->entries.size() + d.size());
    auto e = t->entries.begin();
    for (const auto& [k, w] : d) {
      while (e != t->entries.end() && e->first < k) merged.push_back(*e++);
      int64_t sum = w;
      if (e != t->entries.end() && e->first == k) sum += (e++)->second;
      if (sum != 0) merged.emplace_back(k, sum);
    }
    merged.insert(merged.end(), e, t->entries.end());
    t->entries = std::move(merged);
  }
  for (auto& [name, t] : touched) {
    t->Finish();
    next->trees[name] = t;
  }
  return next;
}

// Advances `state` to commit `j` by replaying the generator.
OracleStatePtr AdvanceTo(uint64_t seed, OracleStatePtr state, uint64_t j) {
  while (state->commit < j) {
    const uint64_t i = state->commit + 1;
    state = ApplyCommit(*state, i, GenerateCommit(seed, i, *state));
  }
  return state;
}

// ---------------------------------------------------------------------------------------------
// Verification of one snapshot against the oracle. Returns "" or what differs.
// ---------------------------------------------------------------------------------------------

std::string KeyStr(tree::KeyType kt, uint64_t code) {
  char buf[64];
  if (kt == tree::KeyType::kInt64) {
    std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(tree::DecodeInt64Key(code)));
  } else {
    std::snprintf(buf, sizeof(buf), "%.17g", tree::DecodeDoubleKey(code));
  }
  return buf;
}

bool SameDouble(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof(a)) == 0 ||
         (a == b && a == 0.0);
}

std::string VerifyTree(const tree::TreeVersion& v, const OracleTree& want, std::mt19937_64& rng,
                       int queries) {
  const std::string where =
      "tree '" + want.name + "' (version epoch " + std::to_string(v.epoch) + ")";
  if (v.key_type != want.key_type) return where + ": key type differs";
  Status st = tree::CheckInvariants(v, /*load_leaves=*/true);
  if (!st.ok()) return where + ": CheckInvariants: " + st.ToString();
  if (tree::PositiveCount(v) != want.n()) {
    return where + ": N " + std::to_string(tree::PositiveCount(v)) + ", expected " +
           std::to_string(want.n());
  }
  if (v.entry_count != want.entries.size()) {
    return where + ": " + std::to_string(v.entry_count) + " entries, expected " +
           std::to_string(want.entries.size());
  }
  size_t at = 0;
  std::string diff;
  st = tree::ForEachAll(v, [&](uint64_t key, int64_t w) {
    if (at >= want.entries.size() || want.entries[at].first != key ||
        want.entries[at].second != w) {
      diff = where + ": entry #" + std::to_string(at) + " is (" + KeyStr(v.key_type, key) + ", " +
             std::to_string(w) + "), expected " +
             (at < want.entries.size() ? "(" + KeyStr(v.key_type, want.entries[at].first) + ", " +
                                             std::to_string(want.entries[at].second) + ")"
                                       : std::string("nothing"));
      return false;
    }
    ++at;
    return true;
  });
  if (!st.ok()) return where + ": ForEachAll: " + st.ToString();
  if (!diff.empty()) return diff;
  if (at != want.entries.size())
    return where + ": iteration stopped early at #" + std::to_string(at);

  const uint64_t n = want.n();
  for (int q = 0; q < queries; ++q) {
    const bool desc = rng() % 2 == 0;
    // Select at random ranks, including the ends.
    const uint64_t k = n == 0 ? rng() % 3 : (q == 0 ? 0 : (q == 1 ? n - 1 : rng() % (n + 1)));
    auto sel = tree::Select(v, k, desc);
    if (!sel.ok()) return where + ": Select: " + sel.status().ToString();
    if (*sel != want.Select(k, desc)) {
      return where + ": Select(" + std::to_string(k) + (desc ? ", desc" : "") +
             ") = " + (sel->has_value() ? KeyStr(v.key_type, **sel) : "none") + ", expected " +
             (want.Select(k, desc) ? KeyStr(v.key_type, *want.Select(k, desc)) : "none");
    }
    // Percentiles: random p, p on item boundaries (p * N integral), 0 and 1.
    double p;
    const uint64_t pk = rng() % 4;
    if (pk == 0)
      p = static_cast<double>(rng() % 1000001) / 1e6;
    else if (pk == 1 && n > 0)
      p = static_cast<double>(rng() % (n + 1)) / static_cast<double>(n);
    else if (pk == 2)
      p = rng() % 2 == 0 ? 0.0 : 1.0;
    else
      p = 0.25 * static_cast<double>(rng() % 5);
    auto cont = tree::PercentileCont(v, p, desc);
    if (!cont.ok()) return where + ": PercentileCont: " + cont.status().ToString();
    const auto want_cont = want.PercentileCont(p, desc);
    if (cont->has_value() != want_cont.has_value() ||
        (want_cont.has_value() && !SameDouble(**cont, *want_cont))) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), ": PercentileCont(%.17g%s) = %.17g, expected %.17g", p,
                    desc ? ", desc" : "", cont->value_or(-12345.0), want_cont.value_or(-12345.0));
      return where + buf;
    }
    auto disc = tree::PercentileDisc(v, p, desc);
    if (!disc.ok()) return where + ": PercentileDisc: " + disc.status().ToString();
    if (*disc != want.PercentileDisc(p, desc)) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), ": PercentileDisc(%.17g%s) differs", p, desc ? ", desc" : "");
      return where + buf;
    }
    // Rank / WeightOf / RangePositiveSum at existing and random keys.
    const uint64_t key = !want.entries.empty() && rng() % 2 == 0
                             ? want.entries[rng() % want.entries.size()].first
                             : RandomKey(want.key_type, rng, 3000);
    const uint64_t key2 = RandomKey(want.key_type, rng, 3000);
    auto rank = tree::Rank(v, key);
    if (!rank.ok() || *rank != want.Rank(key)) {
      return where + ": Rank(" + KeyStr(v.key_type, key) +
             ") = " + (rank.ok() ? std::to_string(*rank) : rank.status().ToString()) +
             ", expected " + std::to_string(want.Rank(key));
    }
    auto weight = tree::WeightOf(v, key);
    if (!weight.ok() || *weight != want.WeightOf(key)) {
      return where + ": WeightOf(" + KeyStr(v.key_type, key) + ") differs";
    }
    const uint64_t lo = std::min(key, key2), hi = std::max(key, key2);
    auto range = tree::RangePositiveSum(v, lo, hi);
    if (!range.ok() || *range != want.Rank(hi) - want.Rank(lo)) {
      return where + ": RangePositiveSum(" + KeyStr(v.key_type, lo) + ", " +
             KeyStr(v.key_type, hi) + ") differs";
    }
  }
  return "";
}

std::string VerifySnapshot(Runtime* rt, const RuntimeSnapshot& snap, const OracleState& want,
                           std::mt19937_64& rng, int queries) {
  const std::string where = "snapshot epoch " + std::to_string(snap.epoch()) + " (commit " +
                            std::to_string(want.commit) + ")";
  if (snap.epoch() != want.commit) return where + ": epoch is not the commit number";
  std::vector<TreeInfo> trees = rt->ListTrees(snap);
  std::string names, want_names;
  for (const TreeInfo& t : trees) names += " " + t.name;
  for (const auto& [name, t] : want.trees) want_names += " " + name;
  if (names != want_names)
    return where + ": trees [" + names + " ], expected [" + want_names + " ]";
  for (const TreeInfo& t : trees) {
    const OracleTree& w = *want.trees.at(t.name);
    if (t.type_id != tree::kOrderStatTreeTypeId || t.params != tree::OrderStatTreeParams(w.key_type)) {
      return where + ": tree '" + t.name + "' has the wrong type or params";
    }
    if (t.create_epoch != w.create_commit) {
      return where + ": tree '" + t.name + "' create epoch " + std::to_string(t.create_epoch) +
             ", expected " + std::to_string(w.create_commit);
    }
    auto found = rt->FindTree(t.name, snap);
    if (!found.ok() || found->id != t.id) {
      return where + ": FindTree('" + t.name + "') does not find the tree ListTrees lists";
    }
    if (t.tree != nullptr) return where + ": ListTrees restored tree '" + t.name + "'";
    auto* host = tree::AsOrderStatTree(found->tree.get());
    if (host == nullptr) return where + ": tree '" + t.name + "' is not an OrderStatTreeHost";
    std::shared_ptr<const tree::TreeVersion> v = host->VersionAt(snap.epoch());
    if (v == nullptr || v->epoch > snap.epoch()) {
      return where + ": tree '" + t.name + "' VersionAt returned a later version";
    }
    std::string err = VerifyTree(*v, w, rng, queries);
    if (!err.empty()) return where + ": " + err;
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Cycle configuration and the child process.
// ---------------------------------------------------------------------------------------------

struct CycleConfig {
  RuntimeOptions options;
  int readers = 2;
  std::chrono::microseconds kill_after{0};
  bool clean_close = false;  // no kill: stop after max_commits and Close()
  uint64_t max_commits = 0;
  uint32_t checkpoint_every = 0;  // explicit Checkpoint() every ~N commits (0 = never)
  uint32_t evict_every = 0;       // EvictClean() every ~N commits (0 = never)
  RuntimeOptions parent_options;  // the parent's verifying open
};

CycleConfig MakeCycleConfig(uint64_t seed, int cycle) {
  std::mt19937_64 rng(Mix(seed ^ Mix(0xC0FFEEull + static_cast<uint64_t>(cycle))));
  static constexpr uint32_t kLeaf[] = {4, 5, 8, 16, 64, 240};
  static constexpr uint32_t kFanout[] = {4, 5, 8, 16, 64};
  static constexpr uint64_t kCheckpointBytes[] = {64 << 10, 256 << 10, 256 << 10, 1 << 20};
  static constexpr uint64_t kLogFileBytes[] = {64 << 10, 128 << 10, 1 << 20, 64 << 20};
  CycleConfig c;
  RuntimeOptions& o = c.options;
  o.create_if_missing = true;
  o.durability = rng() % 4 == 0 ? Durability::kBalanced : Durability::kStrict;
  o.sync_interval_ms = 5 + rng() % 50;
  o.background_thread = true;
  o.checkpoint_log_bytes = kCheckpointBytes[rng() % std::size(kCheckpointBytes)];
  o.checkpoint_interval_ms = rng() % 3 == 0 ? 20 + rng() % 100 : 0;
  o.log_file_size_max_bytes = kLogFileBytes[rng() % std::size(kLogFileBytes)];
  o.checkpoint_on_close = rng() % 4 != 0;
  o.leaf_capacity_entries = kLeaf[rng() % std::size(kLeaf)];
  o.fanout = kFanout[rng() % std::size(kFanout)];
  c.readers = 2 + static_cast<int>(rng() % 2);
  const uint64_t k = rng() % 100;
  if (k < 8) {
    c.clean_close = true;
    c.max_commits = 1 + rng() % 150;
  } else if (k < 23) {
    c.kill_after = std::chrono::microseconds(rng() % 25000);  // often during open/recovery
  } else {
    c.kill_after = std::chrono::microseconds(25000 + rng() % 650000);
  }
  if (!c.clean_close) c.max_commits = 1000000;  // the kill always comes first
  c.checkpoint_every = rng() % 2 == 0 ? 20 + rng() % 200 : 0;
  c.evict_every = rng() % 3 != 0 ? 2 + rng() % 30 : 0;
  c.parent_options = o;
  c.parent_options.create_if_missing = false;
  c.parent_options.background_thread = false;
  c.parent_options.checkpoint_on_close = rng() % 3 == 0;
  c.parent_options.fanout = kFanout[rng() % std::size(kFanout)];  // rebuild with another fan-out
  return c;
}

void WriteLine(int fd, std::string line) {
  if (line.size() > PIPE_BUF - 1) line.resize(PIPE_BUF - 1);  // atomic pipe writes
  line += '\n';
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = write(fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

[[noreturn]] void ChildFail(int fd, const std::string& what) {
  WriteLine(fd, "F " + what);
  std::abort();
}

// The shared state of one child: oracle states by commit, published before each commit.
class PublishedStates {
 public:
  explicit PublishedStates(OracleStatePtr start) { states_[start->commit] = std::move(start); }
  void Publish(OracleStatePtr s) {
    std::lock_guard<std::mutex> g(mu_);
    const uint64_t i = s->commit;
    states_[i] = std::move(s);
    // A new snapshot's epoch is >= i - 1 (commit i - 1 was acknowledged): keep a margin.
    while (!states_.empty() && states_.begin()->first + 64 < i) states_.erase(states_.begin());
  }
  // Takes a snapshot and the oracle state of its epoch atomically with respect to Publish.
  std::pair<RuntimeSnapshot, OracleStatePtr> Take(Runtime* rt) {
    std::lock_guard<std::mutex> g(mu_);
    RuntimeSnapshot snap = rt->GetSnapshot();
    auto it = states_.find(snap.epoch());
    OracleStatePtr s = it == states_.end() ? nullptr : it->second;
    return {std::move(snap), std::move(s)};
  }

 private:
  std::mutex mu_;
  std::map<uint64_t, OracleStatePtr> states_;
};

[[noreturn]] void RunChild(const std::string& db, uint64_t seed, int cycle, const CycleConfig& cfg,
                           OracleStatePtr start, int fd) {
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  const std::string tag = "seed " + std::to_string(seed) + " cycle " + std::to_string(cycle) + ": ";
  recovery::OpenReport report;
  auto opened = recovery::Open(db, cfg.options, &report);
  if (!opened.ok()) ChildFail(fd, tag + "child open: " + opened.status().ToString());
  std::unique_ptr<Runtime> rt = std::move(*opened);
  if (rt->visible_epoch() != start->commit) {
    ChildFail(fd, tag + "child open recovered epoch " + std::to_string(rt->visible_epoch()) +
                      ", the parent verified " + std::to_string(start->commit));
  }
  {
    std::mt19937_64 rng(Mix(seed ^ cycle));
    RuntimeSnapshot snap = rt->GetSnapshot();
    std::string err = VerifySnapshot(rt.get(), snap, *start, rng, 4);
    if (!err.empty()) ChildFail(fd, tag + "child open: " + err);
  }
  WriteLine(fd, "R " + std::to_string(start->commit));

  PublishedStates published(start);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> snapshots{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < cfg.readers; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(Mix(seed ^ Mix(cycle * 16 + r)));
      uint64_t last_epoch = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        auto [snap, want] = published.Take(rt.get());
        const std::string who = tag + "reader " + std::to_string(r) + ": ";
        if (want == nullptr) {
          ChildFail(fd, who + "snapshot epoch " + std::to_string(snap.epoch()) +
                            " is not a published commit");
        }
        if (snap.epoch() < last_epoch) {
          ChildFail(fd, who + "snapshot epoch went back from " + std::to_string(last_epoch) +
                            " to " + std::to_string(snap.epoch()));
        }
        last_epoch = snap.epoch();
        const int queries = rng() % 4 == 0 ? 6 : 1;
        std::string err = VerifySnapshot(rt.get(), snap, *want, rng, queries);
        if (!err.empty()) ChildFail(fd, who + err);
        snapshots.fetch_add(1, std::memory_order_relaxed);
        if (rng() % 8 == 0) {
          // Hold the snapshot while the writer commits, evicts leaves and checkpoints; it must
          // not change. A long hold lets superseded leaves that were evicted be retired by a
          // checkpoint: reclaiming them while this snapshot is pinned would show here. Only
          // reader 0 holds long, so the others keep verifying new snapshots meanwhile.
          const bool long_hold = r == 0 && rng() % 2 == 0;
          std::this_thread::sleep_for(
              std::chrono::microseconds(long_hold ? 20000 + rng() % 180000 : rng() % 8000));
          err = VerifySnapshot(rt.get(), snap, *want, rng, 1);
          if (!err.empty()) ChildFail(fd, who + "held snapshot: " + err);
          snapshots.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }

  // The writer (this thread).
  std::mt19937_64 rng(Mix(seed ^ Mix(cycle * 16 + 15)));
  std::map<std::string, TreeId> ids;
  {
    RuntimeSnapshot snap = rt->GetSnapshot();
    for (const TreeInfo& t : rt->ListTrees(snap)) ids[t.name] = t.id;
  }
  OracleStatePtr state = start;
  for (uint64_t n = 0; n < cfg.max_commits; ++n) {
    const uint64_t i = state->commit + 1;
    const CommitSpec spec = GenerateCommit(seed, i, *state);
    OracleStatePtr next = ApplyCommit(*state, i, spec);
    RuntimeWriteBatch batch(rt.get());
    for (const std::string& name : spec.drops) batch.DropTree(ids.at(name));
    std::map<std::string, TreeId> created;
    for (const auto& [name, kt] : spec.creates) {
      created[name] = batch.CreateTree(name, tree::kOrderStatTreeTypeId, tree::OrderStatTreeParams(kt));
    }
    for (const auto& [name, ops] : spec.ops) {
      const TreeId id = created.count(name) ? created.at(name) : ids.at(name);
      std::string* bytes = batch.MutableOps(id);
      for (const auto& [k, w] : ops) tree::AppendOrderStatOp(bytes, k, w);
    }
    published.Publish(next);
    uint64_t epoch = 0;
    Status st = rt->Commit(batch, &epoch);
    if (!st.ok()) ChildFail(fd, tag + "commit " + std::to_string(i) + ": " + st.ToString());
    if (epoch != i) {
      ChildFail(fd, tag + "commit " + std::to_string(i) + " got epoch " + std::to_string(epoch));
    }
    WriteLine(fd, "A " + std::to_string(i) + " " + std::to_string(snapshots.load()));
    for (const std::string& name : spec.drops) ids.erase(name);
    for (const auto& [name, id] : created) ids[name] = id;
    state = next;
    if (cfg.checkpoint_every != 0 && rng() % cfg.checkpoint_every == 0) {
      st = rt->Checkpoint();
      if (!st.ok())
        ChildFail(fd, tag + "checkpoint after commit " + std::to_string(i) + ": " + st.ToString());
    }
    if (cfg.evict_every != 0 && rng() % cfg.evict_every == 0) rt->EvictClean();
  }
  // Clean end of a clean_close cycle.
  stop.store(true);
  for (std::thread& t : readers) t.join();
  WriteLine(fd, "S " + std::to_string(snapshots.load()));
  Status st = rt->Close();
  if (!st.ok()) ChildFail(fd, tag + "close: " + st.ToString());
  rt.reset();
  WriteLine(fd, "C");
  _exit(0);
}

// ---------------------------------------------------------------------------------------------
// The parent.
// ---------------------------------------------------------------------------------------------

struct Totals {
  int cycles = 0;
  int kills = 0;
  int clean_exits = 0;
  int killed_before_open_done = 0;
  uint64_t commits_acked = 0;
  uint64_t commits_recovered = 0;         // sum over cycles of (j - previous j): verified by reopen
  uint64_t unacked_commit_recovered = 0;  // j == last_acked + 1
  uint64_t reopen_states_verified = 0;
  uint64_t snapshots_verified = 0;  // by the child's readers (last count reported per cycle)
};

std::string TotalsLine(const Totals& t) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "cycles=%d kills=%d clean_exits=%d kills_before_first_ack=%d commits_acked=%llu "
                "commits_verified_by_reopen=%llu recovered_unacked_commit=%llu "
                "reopen_states_verified=%llu snapshots_verified=%llu",
                t.cycles, t.kills, t.clean_exits, t.killed_before_open_done,
                static_cast<unsigned long long>(t.commits_acked),
                static_cast<unsigned long long>(t.commits_recovered),
                static_cast<unsigned long long>(t.unacked_commit_recovered),
                static_cast<unsigned long long>(t.reopen_states_verified),
                static_cast<unsigned long long>(t.snapshots_verified));
  return buf;
}

TEST(Soak, SigkillWithConcurrentSnapshotReadersMatchesOracle) {
  int cycles = 60;
  if (const char* env = std::getenv("COWTREE_SOAK_CYCLES")) cycles = std::atoi(env);
  uint64_t seed = std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
  if (const char* env = std::getenv("COWTREE_SOAK_SEED")) seed = std::strtoull(env, nullptr, 10);
  const bool keep = std::getenv("COWTREE_SOAK_KEEP") != nullptr;
  char pattern[] = "/tmp/cowtree-soak-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  const std::string db = dir + "/db";
  std::printf("soak: seed %llu, %d cycles, store %s (replay: COWTREE_SOAK_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), cycles, db.c_str(),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);

  Totals totals;
  OracleStatePtr oracle = std::make_shared<OracleState>();  // commit 0: empty store
  std::mt19937_64 rng(Mix(seed ^ 0x5eedull));
  bool failed = false;
  auto fail = [&](int cycle, const std::string& what) {
    failed = true;
    ADD_FAILURE() << "soak failure: seed " << seed << " cycle " << cycle << " (replay with "
                  << "COWTREE_SOAK_SEED=" << seed << " COWTREE_SOAK_CYCLES=" << cycle + 1
                  << "); store kept in " << db << "\n"
                  << what << "\ntotals so far: " << TotalsLine(totals);
  };
  const auto started = Clock::now();
  for (int cycle = 0; cycle < cycles && !failed; ++cycle) {
    const CycleConfig cfg = MakeCycleConfig(seed, cycle);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      RunChild(db, seed, cycle, cfg, oracle, fds[1]);
    }
    close(fds[1]);
    // Read until the kill time (or the child's exit), kill, then drain to EOF.
    const auto deadline =
        Clock::now() +
        (cfg.clean_close ? std::chrono::microseconds(std::chrono::seconds(120)) : cfg.kill_after);
    std::string out;
    bool eof = false, killed = false;
    char buf[8192];
    while (!eof) {
      int timeout_ms = -1;
      if (!killed) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
          kill(pid, SIGKILL);
          killed = true;
        } else {
          timeout_ms = static_cast<int>(std::min<int64_t>(left.count(), 1000));
        }
      }
      struct pollfd p = {fds[0], POLLIN, 0};
      const int pr = poll(&p, 1, killed ? -1 : std::max(timeout_ms, 1));
      if (pr < 0 && errno == EINTR) continue;
      if (pr <= 0) continue;
      const ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        eof = true;
      else
        out.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ++totals.cycles;

    // Parse the child's lines.
    uint64_t last_acked = oracle->commit, acks = 0, snaps = 0;
    bool opened = false, closed = false;
    std::string failure;
    size_t pos = 0;
    while (true) {
      const size_t nl = out.find('\n', pos);
      if (nl == std::string::npos) break;
      const std::string line = out.substr(pos, nl - pos);
      pos = nl + 1;
      unsigned long long a = 0, b = 0;
      if (line.rfind("F ", 0) == 0) {
        failure = line.substr(2);
      } else if (std::sscanf(line.c_str(), "A %llu %llu", &a, &b) == 2) {
        if (a != last_acked + 1)
          failure =
              "acknowledged commit " + std::to_string(a) + " after " + std::to_string(last_acked);
        last_acked = a;
        snaps = b;
        ++acks;
      } else if (std::sscanf(line.c_str(), "S %llu", &a) == 1) {
        snaps = a;
      } else if (std::sscanf(line.c_str(), "R %llu", &a) == 1) {
        opened = true;
        if (a != oracle->commit) failure = "child opened at " + std::to_string(a);
      } else if (line == "C") {
        closed = true;
      }
    }
    if (!failure.empty()) {
      fail(cycle, "child reported: " + failure);
      break;
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && killed) {
      ++totals.kills;
      if (acks == 0) ++totals.killed_before_open_done;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && closed && cfg.clean_close) {
      ++totals.clean_exits;
    } else {
      fail(cycle, "child ended unexpectedly: status " + std::to_string(status) +
                      (opened ? " after opening" : " before opening") + "; output:\n" + out);
      break;
    }
    totals.commits_acked += acks;
    totals.snapshots_verified += snaps;

    // Reopen in-process and check: state == oracle(j), last_acked <= j <= last_acked + 1.
    {
      RuntimeOptions po = cfg.parent_options;
      po.create_if_missing = oracle->commit == 0 && acks == 0;  // store creation may be cut short
      recovery::OpenReport report;
      auto reopened = recovery::Open(db, po, &report);
      if (!reopened.ok()) {
        fail(cycle, "reopen after " + std::to_string(last_acked) +
                        " acknowledged commits: " + reopened.status().ToString());
        break;
      }
      std::unique_ptr<Runtime> rt = std::move(*reopened);
      const uint64_t j = rt->visible_epoch();
      const uint64_t prev = oracle->commit;
      if (j < last_acked || j > last_acked + 1 || report.recovered_epoch != j) {
        fail(cycle, "recovered epoch " + std::to_string(j) + " (report " +
                        std::to_string(report.recovered_epoch) + "), last acknowledged " +
                        std::to_string(last_acked) + ", previous cycle ended at " +
                        std::to_string(prev) + (cfg.clean_close ? " (clean close)" : ""));
        break;
      }
      if (cfg.clean_close && j != last_acked) {
        fail(cycle, "clean close: recovered epoch " + std::to_string(j) + ", last acknowledged " +
                        std::to_string(last_acked));
        break;
      }
      oracle = AdvanceTo(seed, oracle, j);
      RuntimeSnapshot snap = rt->GetSnapshot();
      std::string err = VerifySnapshot(rt.get(), snap, *oracle, rng, 12);
      snap = RuntimeSnapshot();
      if (!err.empty()) {
        fail(cycle, "recovered state (last acknowledged " + std::to_string(last_acked) +
                        "): " + err + "\nopen report: checkpoint epoch " +
                        std::to_string(report.checkpoint_epoch) + ", commits replayed " +
                        std::to_string(report.commits_replayed));
        break;
      }
      if (rt->GetStats().tree_count != oracle->trees.size()) {
        fail(cycle, "GetStats().tree_count differs from the number of live trees");
        break;
      }
      Status st = rt->Close();
      if (!st.ok()) {
        fail(cycle, "closing the verifying runtime: " + st.ToString());
        break;
      }
      totals.commits_recovered += j - prev;
      if (j == last_acked + 1) ++totals.unacked_commit_recovered;
      ++totals.reopen_states_verified;
    }
    if (cycles >= 200 && (cycle + 1) % 100 == 0) {
      std::printf("soak progress: cycle %d/%d, %.0f s: %s\n", cycle + 1, cycles,
                  std::chrono::duration<double>(Clock::now() - started).count(),
                  TotalsLine(totals).c_str());
      std::fflush(stdout);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("soak summary (seed %llu, %.1f s): %s failures=%d\n",
              static_cast<unsigned long long>(seed), secs, TotalsLine(totals).c_str(),
              failed ? 1 : 0);
  std::fflush(stdout);
  RecordProperty("soak_totals", TotalsLine(totals));
  if (failed) return;
  EXPECT_EQ(totals.cycles, cycles);
  EXPECT_GE(totals.kills, cycles / 2) << "most cycles must end in a SIGKILL";
  EXPECT_GT(totals.commits_acked, 0u);
  if (cycles >= 10) {
    EXPECT_GT(totals.snapshots_verified, 0u);
  }
  if (!keep) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cowtree
