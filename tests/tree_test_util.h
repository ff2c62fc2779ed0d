// Test helpers for the tree suites: a reference model (sorted map of key -> weight), a fake
// LeafLoader that stores encoded leaf bodies and counts loads, and a checker that compares
// every reader of a TreeVersion with the model.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "tree/node_format.h"
#include "tree/order_stat_tree.h"

namespace cowtree::tree::testing {

// Reference model: the multiset semantics spelled out naively.
class Model {
 public:
  // Mirrors Apply: returns false (and changes nothing) if any weight sum overflows int64.
  bool Apply(const std::vector<KeyWeight>& ops) {
    std::map<uint64_t, int64_t> next = entries_;
    for (const KeyWeight& op : ops) {
      int64_t& w = next[op.key];
      if (__builtin_add_overflow(w, op.weight, &w)) return false;
      if (w == 0) next.erase(op.key);
    }
    entries_ = std::move(next);
    return true;
  }
  const std::map<uint64_t, int64_t>& entries() const { return entries_; }
  uint64_t N() const {
    uint64_t n = 0;
    for (const auto& [k, w] : entries_) n += w > 0 ? static_cast<uint64_t>(w) : 0;
    return n;
  }
  uint64_t Rank(uint64_t key) const {
    uint64_t r = 0;
    for (const auto& [k, w] : entries_) {
      if (k >= key) break;
      r += w > 0 ? static_cast<uint64_t>(w) : 0;
    }
    return r;
  }
  std::optional<uint64_t> SelectAsc(uint64_t k) const {
    for (const auto& [key, w] : entries_) {
      if (w <= 0) continue;
      if (k < static_cast<uint64_t>(w)) return key;
      k -= static_cast<uint64_t>(w);
    }
    return std::nullopt;
  }
  std::optional<uint64_t> Select(uint64_t k, bool desc) const {
    const uint64_t n = N();
    if (k >= n) return std::nullopt;
    return SelectAsc(desc ? n - 1 - k : k);
  }
  // PostgreSQL percentile_cont / percentile_disc on the expanded item list.
  std::optional<double> Cont(KeyType t, double p, bool desc) const {
    const uint64_t n = N();
    if (n == 0) return std::nullopt;
    const double pos = p * static_cast<double>(n - 1);
    const auto lo = static_cast<uint64_t>(std::floor(pos));
    const auto hi = static_cast<uint64_t>(std::ceil(pos));
    const double lo_val = KeyToDouble(t, *Select(lo, desc));
    if (lo == hi) return lo_val;
    const double hi_val = KeyToDouble(t, *Select(hi, desc));
    return lo_val + ((pos - static_cast<double>(lo)) * (hi_val - lo_val));
  }
  std::optional<uint64_t> Disc(double p, bool desc) const {
    const uint64_t n = N();
    if (n == 0) return std::nullopt;
    auto k = static_cast<uint64_t>(std::ceil(p * static_cast<double>(n)));
    if (k < 1) k = 1;
    return Select(k - 1, desc);
  }

 private:
  std::map<uint64_t, int64_t> entries_;
};

// Stores encoded leaf bodies by NodeID; decodes on load; counts loads; can fail on demand.
class FakeLeafLoader : public LeafLoader {
 public:
  explicit FakeLeafLoader(KeyType key_type) : key_type_(key_type) {}
  Result<std::shared_ptr<const LeafData>> LoadLeaf(NodeID id) override {
    loads_.fetch_add(1);
    std::string body;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (fail_with_.has_value()) return *fail_with_;
      auto it = bodies_.find(id.raw());
      if (it == bodies_.end()) return Status::NotFound("no leaf " + std::to_string(id.raw()));
      body = it->second;
    }
    return DecodeLeaf(body, key_type_);
  }
  // Writes every dirty leaf of v (encode + store + MarkPersisted) and returns v's summaries.
  std::vector<PersistedSummary> Checkpoint(const TreeVersion& v) {
    std::vector<PersistedSummary> out;
    for (const LeafSummary& s : Summaries(v)) {
      if (!s.box->persisted()) {
        std::shared_ptr<const LeafData> data = s.box->data();
        EXPECT_NE(data, nullptr);
        const NodeID id = NodeID::Make(next_handle_++, 1);
        Put(id, EncodeLeaf(v.key_type, *data));
        LeafBox::MarkPersisted(s.box, id);
      }
      out.push_back(PersistedSummary{s.first_key, s.pos_sum, s.entry_count, s.box->persisted_id()});
    }
    return out;
  }
  void Put(NodeID id, std::string body) {
    std::lock_guard<std::mutex> g(mu_);
    bodies_[id.raw()] = std::move(body);
  }
  // The stored body of `id` (empty if none).
  std::string Body(NodeID id) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = bodies_.find(id.raw());
    return it == bodies_.end() ? std::string() : it->second;
  }
  void FailWith(std::optional<Status> s) {
    std::lock_guard<std::mutex> g(mu_);
    fail_with_ = std::move(s);
  }
  uint64_t loads() const { return loads_.load(); }

 private:
  KeyType key_type_;
  std::mutex mu_;
  std::unordered_map<uint64_t, std::string> bodies_;
  std::optional<Status> fail_with_;
  std::atomic<uint64_t> loads_{0};
  uint64_t next_handle_ = 1;
};

inline std::vector<std::pair<uint64_t, int64_t>> Entries(const TreeVersion& v) {
  std::vector<std::pair<uint64_t, int64_t>> out;
  EXPECT_TRUE(ForEachAll(v, [&](uint64_t k, int64_t w) {
                out.emplace_back(k, w);
                return true;
              }).ok());
  return out;
}

// Compares every reader of v with the model; probes are drawn from rng. Uses ASSERT-style
// early exit through gtest's fatal failures in the caller (check HasFatalFailure()).
inline void ExpectMatchesModel(const TreeVersion& v, const Model& m, std::mt19937_64& rng,
                               int probes = 40) {
  ASSERT_TRUE(CheckInvariants(v, /*load_leaves=*/true).ok()) << CheckInvariants(v, true).ToString();
  const uint64_t n = m.N();
  ASSERT_EQ(PositiveCount(v), n);
  ASSERT_EQ(v.entry_count, m.entries().size());
  // Full iteration, including negative weights.
  std::vector<std::pair<uint64_t, int64_t>> expected(m.entries().begin(), m.entries().end());
  ASSERT_EQ(Entries(v), expected);
  std::vector<uint64_t> keys;
  for (const auto& e : expected) keys.push_back(e.first);
  auto probe_key = [&]() -> uint64_t {
    if (!keys.empty() && rng() % 2 == 0) {
      const uint64_t k = keys[rng() % keys.size()];
      return k + (rng() % 3) - 1;  // the key or a neighbor
    }
    return rng() % 4 == 0 ? rng() : (rng() % 2 ? 0 : UINT64_MAX);
  };
  for (int i = 0; i < probes; ++i) {
    const uint64_t key = probe_key();
    ASSERT_EQ(Rank(v, key).value(), m.Rank(key)) << "key " << key;
    const uint64_t k = n == 0 ? rng() % 3 : rng() % (n + 2);
    for (bool desc : {false, true}) {
      ASSERT_EQ(Select(v, k, desc).value(), m.Select(k, desc)) << "k " << k << " desc " << desc;
    }
    const uint64_t a = probe_key(), b = probe_key();
    const uint64_t lo = std::min(a, b), hi = std::max(a, b);
    ASSERT_EQ(RangePositiveSum(v, lo, hi).value(), m.Rank(hi) - m.Rank(lo));
    std::vector<std::pair<uint64_t, int64_t>> got;
    ASSERT_TRUE(ForEach(v, lo, hi, [&](uint64_t key2, int64_t w) {
                  got.emplace_back(key2, w);
                  return got.size() < 50;
                }).ok());
    std::vector<std::pair<uint64_t, int64_t>> want;
    for (auto it = m.entries().lower_bound(lo);
         it != m.entries().end() && it->first < hi && want.size() < 50; ++it) {
      want.emplace_back(*it);
    }
    ASSERT_EQ(got, want);
  }
  const double fixed_ps[] = {0.0, 1.0, 0.5, 0.25, 0.75, 0.1, 0.9, 1.0 / 3};
  std::vector<double> ps(std::begin(fixed_ps), std::end(fixed_ps));
  for (int i = 0; i < 8; ++i) ps.push_back(std::uniform_real_distribution<double>(0, 1)(rng));
  for (double p : ps) {
    for (bool desc : {false, true}) {
      const std::optional<double> cont = PercentileCont(v, p, desc).value();
      const std::optional<double> want = m.Cont(v.key_type, p, desc);
      ASSERT_EQ(cont.has_value(), want.has_value());
      if (cont.has_value() && !(std::isnan(*cont) && std::isnan(*want))) {
        ASSERT_EQ(*cont, *want) << "p " << p << " desc " << desc;
      }
      ASSERT_EQ(PercentileDisc(v, p, desc).value(), m.Disc(p, desc)) << "p " << p;
    }
  }
}

}  // namespace cowtree::tree::testing
