#include "testutil/oracle.h"

#include <algorithm>
#include <cmath>

#include "persistence/crc32c.h"
#include "testutil/fault_injection_env.h"
#include "tree/check.h"
#include "tree/key_codec.h"
#include "tree/order_stat_tree_type.h"
#include "tree/query.h"

namespace cowtree::testutil {

void Oracle::AckCommit(Durability mode) {
  acked_ = attempted();
  if (mode == Durability::kStrict) durable_power_ = acked_;
  if (mode != Durability::kEventual) durable_process_ = acked_;
}

void Oracle::OpenedAt(uint64_t epoch) {
  acked_ = epoch;
  durable_power_ = std::max(durable_power_, epoch);
  durable_process_ = std::max(durable_process_, epoch);
}

void Oracle::TruncateTo(uint64_t epoch) {
  states_.resize(epoch + 1);
  acked_ = std::min(acked_, epoch);
  durable_power_ = std::min(durable_power_, epoch);
  durable_process_ = std::min(durable_process_, epoch);
}

std::string Oracle::Describe() const {
  return "attempted " + std::to_string(attempted()) + " acked " + std::to_string(acked_) +
         " durable(power) " + std::to_string(durable_power_) + " durable(process) " +
         std::to_string(durable_process_);
}

namespace {

// Order statistics of one tree version against the entries ForEach returned.
Status CheckQueries(const std::string& name, const tree::TreeVersion& v, const TreeModel& m) {
  auto fail = [&](const std::string& what) {
    return Status::Corruption("tree '" + name + "': " + what);
  };
  std::vector<int64_t> items;  // ascending, with multiplicity (positive weights only)
  for (const auto& [k, w] : m) {
    for (int64_t i = 0; i < w; ++i) items.push_back(k);
  }
  if (tree::PositiveCount(v) != items.size()) {
    return fail("N = " + std::to_string(tree::PositiveCount(v)) + ", entries sum to " +
                std::to_string(items.size()));
  }
  const size_t step = 1 + items.size() / 7;
  for (size_t k = 0; k < items.size(); k += step) {
    COWTREE_ASSIGN_OR_RETURN(std::optional<uint64_t> s, tree::Select(v, k, false));
    if (!s.has_value() || tree::DecodeInt64Key(*s) != items[k]) {
      return fail("select(" + std::to_string(k) + ") wrong");
    }
    COWTREE_ASSIGN_OR_RETURN(std::optional<uint64_t> d, tree::Select(v, k, true));
    if (!d.has_value() || tree::DecodeInt64Key(*d) != items[items.size() - 1 - k]) {
      return fail("select desc(" + std::to_string(k) + ") wrong");
    }
    COWTREE_ASSIGN_OR_RETURN(uint64_t r, tree::Rank(v, tree::EncodeInt64Key(items[k])));
    const size_t want = std::lower_bound(items.begin(), items.end(), items[k]) - items.begin();
    if (r != want) return fail("rank(" + std::to_string(items[k]) + ") wrong");
  }
  COWTREE_ASSIGN_OR_RETURN(std::optional<double> med, tree::Median(v));
  if (med.has_value() != !items.empty()) return fail("median presence wrong");
  if (!items.empty()) {
    const double pos = 0.5 * static_cast<double>(items.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = static_cast<size_t>(std::ceil(pos));
    const double want =
        static_cast<double>(items[lo]) + (pos - lo) * (static_cast<double>(items[hi]) - items[lo]);
    if (*med != want) return fail("median wrong");
  }
  return Status::OK();
}

}  // namespace

Status ReadStore(Runtime* rt, StoreModel* out) {
  out->clear();
  RuntimeSnapshot snap = rt->GetSnapshot();
  std::vector<TreeInfo> trees;
  COWTREE_RETURN_IF_ERROR(rt->ListTrees(snap, &trees));  // a tree missing is never silent
  for (const TreeInfo& listed : trees) {
    COWTREE_ASSIGN_OR_RETURN(TreeInfo info, rt->FindTree(listed.name, snap));  // restores
    tree::OrderStatTreeHost* host = tree::AsOrderStatTree(info.tree.get());
    if (host == nullptr) return Status::Corruption("tree '" + info.name + "' is not an OS tree");
    std::shared_ptr<const tree::TreeVersion> v = host->VersionAt(snap.epoch());
    TreeModel& m = (*out)[info.name];
    COWTREE_RETURN_IF_ERROR(tree::ForEachAll(*v, [&](uint64_t key, int64_t w) {
      m[tree::DecodeInt64Key(key)] = w;
      return true;
    }));
    COWTREE_RETURN_IF_ERROR(
        tree::CheckInvariants(*v, true).WithContext("tree '" + info.name + "'"));
    COWTREE_RETURN_IF_ERROR(CheckQueries(info.name, *v, m));
  }
  return Status::OK();
}

std::string DiffStores(const StoreModel& want, const StoreModel& got) {
  for (const auto& [name, entries] : want) {
    auto it = got.find(name);
    if (it == got.end()) return "tree '" + name + "' missing";
    if (it->second == entries) continue;
    for (const auto& [k, w] : entries) {
      auto g = it->second.find(k);
      if (g == it->second.end() || g->second != w) {
        return "tree '" + name + "' key " + std::to_string(k) + ": want weight " +
               std::to_string(w) + ", got " +
               (g == it->second.end() ? std::string("none") : std::to_string(g->second));
      }
    }
    for (const auto& [k, w] : it->second) {
      if (entries.count(k) == 0) {
        return "tree '" + name + "' key " + std::to_string(k) + ": unexpected weight " +
               std::to_string(w);
      }
    }
  }
  for (const auto& [name, entries] : got) {
    if (want.count(name) == 0) return "unexpected tree '" + name + "'";
  }
  return "";
}

std::string CheckRecovered(Runtime* rt, const Oracle& oracle, uint64_t floor, uint64_t* epoch_out) {
  const uint64_t j = rt->visible_epoch();
  *epoch_out = j;
  const std::string where = "recovered epoch " + std::to_string(j) +
                            " (oracle: " + oracle.Describe() + ", floor " + std::to_string(floor) +
                            ")";
  if (j > oracle.attempted()) return where + ": past the last attempted commit";
  if (j < floor) return where + ": lost a commit acknowledged as durable";
  StoreModel got;
  Status st = ReadStore(rt, &got);
  if (!st.ok()) return where + ": reading the store: " + st.ToString();
  const std::string diff = DiffStores(oracle.state(j), got);
  if (diff.empty()) return "";
  std::string matches;
  for (uint64_t i = 0; i <= oracle.attempted(); ++i) {
    if (DiffStores(oracle.state(i), got).empty()) matches += " " + std::to_string(i);
  }
  return where + ": contents differ from state " + std::to_string(j) + ": " + diff +
         (matches.empty() ? "; matches no committed state (partial commit or gap)"
                          : "; matches state(s)" + matches);
}

uint64_t DurableImageDigest(FaultInjectionEnv* env, const std::string& dir) {
  std::vector<std::string> names;
  if (!env->ListDurable(dir, &names).ok()) return 0;
  std::sort(names.begin(), names.end());
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (const std::string& n : names) {
    std::string bytes;
    (void)env->ReadDurable(JoinPath(dir, n), &bytes);
    const uint64_t a = Crc32c(n.data(), n.size());
    const uint64_t b = Crc32c(bytes.data(), bytes.size());
    h = (h ^ (a << 32 | b) ^ bytes.size()) * 0x100000001B3ull + 0x2545F4914F6CDD1Dull;
    h ^= h >> 29;
  }
  return h;
}

}  // namespace cowtree::testutil
