#include "tree/query.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <string>
#include <utility>

#include "persistence/assert.h"

namespace cowtree::tree {
namespace {

inline uint64_t PositivePart(int64_t w) { return w > 0 ? static_cast<uint64_t>(w) : 0; }

// p * x for a fraction p in [0, 1] and a row count x, split into floor(p * x) (<= x), whether
// p * x is an integer, and its fractional part. Evaluated with PostgreSQL's float8 arithmetic
// when n <= kFloat8ExactRows, exactly otherwise (the rule and its reasons: query.h).
struct ScaledRow {
  uint64_t floor = 0;
  bool integral = true;
  double frac = 0;
};

ScaledRow ScaleRow(double p, uint64_t x, uint64_t n) {
  COWTREE_ASSERT(p >= 0.0 && p <= 1.0 && x <= n);  // CheckPercentile ran first
  ScaledRow r;
  if (n <= kFloat8ExactRows) {
    // x is a double exactly and p * x rounds to a double in [0, x]: floor() converts exactly.
    const double pos = p * static_cast<double>(x);
    const double lo = std::floor(pos);
    r.floor = static_cast<uint64_t>(lo);
    r.integral = pos == lo;
    r.frac = pos - lo;
    return r;
  }
  if (p == 0.0 || x == 0) return r;
  // p = f * 2^e with f in [0.5, 1) and e <= 1, so p = m * 2^-s with m = f * 2^53 < 2^53 (an
  // integer: f has 53 significant bits) and s = 53 - e >= 52. Then p * x = (m * x) / 2^s with
  // m * x < 2^117: exact in 128 bits.
  int e = 0;
  const double f = std::frexp(p, &e);
  const auto m = static_cast<uint64_t>(std::ldexp(f, 53));
  const int s = 53 - e;
  const unsigned __int128 prod = static_cast<unsigned __int128>(m) * x;
  if (s >= 128) {  // p < 2^-74: p * x < 2^-10, and prod > 0 since m, x > 0
    r.integral = false;
    r.frac = std::ldexp(static_cast<double>(prod), -s);
    return r;
  }
  const unsigned __int128 whole = prod >> s;
  const unsigned __int128 rem = prod - (whole << s);
  COWTREE_ASSERT(whole <= x);  // p <= 1
  r.floor = static_cast<uint64_t>(whole);
  r.integral = rem == 0;
  r.frac = std::ldexp(static_cast<double>(rem), -s);  // rem < 2^s: frac in [0, 1)
  return r;
}

// Child `i` of the level-1 node `parent`: a leaf.
struct LeafSlot {
  const InternalNode* parent;
  size_t index;
  const std::shared_ptr<LeafBox>& box() const { return parent->leaves[index]; }
};

// Prefetches entry `pos` of the keys of leaf slot `s` as a reader last saw them (the key hint,
// tree_version.h): the line is on its way while the box is read. Harmless when stale or null.
void PrefetchKeyHint(const LeafSlot& s, size_t pos) {
  if (s.index >= s.parent->key_hint_capacity) return;
  const uint64_t* keys = s.parent->key_hints[s.index].load(std::memory_order_relaxed);
  if (keys != nullptr) __builtin_prefetch(keys + pos);
}

// Records the keys address a pinned reader found (written only when it changed).
void NoteKeyHint(const LeafSlot& s, const uint64_t* keys) {
  if (s.index >= s.parent->key_hint_capacity) return;
  std::atomic<const uint64_t*>& hint = s.parent->key_hints[s.index];
  if (hint.load(std::memory_order_relaxed) != keys) hint.store(keys, std::memory_order_relaxed);
}

// The leaf holding ascending row *k (requires *k < N); *k becomes the row within that leaf
// (counting positive weights only).
LeafSlot DescendToLeaf(const TreeVersion& v, uint64_t* k) {
  COWTREE_ASSERT(*k < v.positive_count && v.root != nullptr);
  const InternalNode* node = v.root.get();
  while (true) {
    const size_t n = node->child_count();
    const uint64_t* sums = node->pos_sums.data();
    size_t i = 0;
    uint64_t row = *k;
    while (i < n && row >= sums[i]) {
      row -= sums[i];
      ++i;
    }
    *k = row;
    COWTREE_ASSERT(i < n);  // the per-child sums add up to the parent's sum
    if (node->level == 1) return LeafSlot{node, i};
    node = node->nodes[i].get();
  }
}

// The leaf holding ascending row *k, as DescendToLeaf.
Result<std::shared_ptr<const LeafData>> DescendAscending(const TreeVersion& v, uint64_t* k) {
  return LeafBox::Load(DescendToLeaf(v, k).box(), v.loader);
}

// The key of item k of `leaf` (k < its positive sum); `unit`: every weight is 1.
Result<uint64_t> SelectInLeaf(const LeafData& leaf, bool unit, uint64_t k) {
  const size_t n = leaf.keys.size();
  if (unit || leaf.implicit_unit_weights()) {
    COWTREE_ASSERT(k < n);  // pos_sum == entry count, verified against the summary
    return leaf.keys[k];
  }
  const int64_t* weights = leaf.weights.data();
  for (size_t j = 0; j < n; ++j) {
    const uint64_t w = PositivePart(weights[j]);
    if (k < w) return leaf.keys[j];
    k -= w;
  }
  COWTREE_ASSERT(false);  // Load() verified the leaf's positive sum against its summary
  return Status::Corruption("leaf holds fewer items than its summary counts");
}

// Ascending select; requires k < N. Reads a resident leaf through a ReadPin (no shared_ptr
// copy), else loads it.
Result<uint64_t> SelectAscending(const TreeVersion& v, uint64_t k) {
  const LeafSlot slot = DescendToLeaf(v, &k);
  const uint64_t entries = slot.parent->entry_counts[slot.index];
  PrefetchKeyHint(slot, k < entries ? k : entries - 1);  // entry k if all weights are 1
  const std::shared_ptr<LeafBox>& box = slot.box();
  {
    const LeafBox::ReadPin pin(*box);
    if (pin.data() != nullptr) {
      NoteKeyHint(slot, pin.keys());
      if (box->unit_weights()) {
        COWTREE_ASSERT(k < box->entry_count());  // pos_sum == entry count, checked at load
        return pin.keys()[k];
      }
      return SelectInLeaf(*pin.data(), false, k);
    }
  }
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const LeafData> leaf, LeafBox::Load(box, v.loader));
  return SelectInLeaf(*leaf, box->unit_weights(), k);
}

// Number of keys[0..n) below `key` (kOrEqual: at most `key`; keys strictly increasing),
// searched from position `guess` outwards (exponential search, then binary search in the
// bracket found): O(log distance) probes, one cache line when the guess is close. Any guess is
// correct.
template <bool kOrEqual>
size_t CountBelowFrom(const uint64_t* keys, size_t n, uint64_t key, size_t guess) {
  if (n == 0) return 0;
  const auto below = [key](uint64_t k) { return kOrEqual ? k <= key : k < key; };
  const size_t g = std::min(guess, n - 1);
  size_t lo = 0;
  size_t hi = 0;  // the answer lies in [lo, hi]
  size_t step = 4;
  if (below(keys[g])) {
    lo = g + 1;
    hi = lo;
    while (hi < n && below(keys[hi])) {
      lo = hi + 1;
      hi = lo + step;
      step *= 2;
    }
    hi = std::min(hi, n);
  } else {
    hi = g;
    lo = hi;
    while (lo > 0 && !below(keys[lo - 1])) {
      hi = lo - 1;
      lo = hi > step ? hi - step : 0;
      step *= 2;
    }
  }
  const uint64_t* it = kOrEqual ? std::upper_bound(keys + lo, keys + hi, key)
                                : std::lower_bound(keys + lo, keys + hi, key);
  return static_cast<size_t>(it - keys);
}

size_t LowerBoundFrom(const uint64_t* keys, size_t n, uint64_t key, size_t guess) {
  return CountBelowFrom<false>(keys, n, key, guess);
}

// Where `key` would sit among n keys spread over [first, bound) if they were spread evenly:
// the starting point of LowerBoundFrom (keys of one leaf are often close to even, e.g. random).
size_t GuessPosition(uint64_t first, uint64_t bound, size_t n, uint64_t key) {
  if (key <= first || bound <= first) return 0;
  const double fraction =
      static_cast<double>(key - first) / static_cast<double>(bound - first);  // >= 0
  const double pos = fraction * static_cast<double>(n);
  return pos >= static_cast<double>(n) ? n : static_cast<size_t>(pos);
}

// Positive weight of the entries of `leaf` with key < `key`; `unit`: every weight is 1;
// `guess`: where to start searching (LowerBoundFrom).
uint64_t RankInLeaf(const LeafData& leaf, bool unit, uint64_t key, size_t guess) {
  const size_t below = LowerBoundFrom(leaf.keys.data(), leaf.keys.size(), key, guess);
  if (unit || leaf.implicit_unit_weights()) return below;
  const int64_t* weights = leaf.weights.data();
  uint64_t rank = 0;
  for (size_t j = 0; j < below; ++j) rank += PositivePart(weights[j]);
  return rank;
}

// Sum of pos_sums[0..i) of `node`, whose pos_sums add up to `total`: read from the shorter
// side (the sums right of i subtracted from total when i is past the middle), so that at most
// half of the node's sums lines are touched.
uint64_t SumLeftOf(const InternalNode& node, size_t i, uint64_t total) {
  const size_t n = node.child_count();
  const uint64_t* sums = node.pos_sums.data();
  COWTREE_DASSERT(i < n && node.PosTotal() == total);
  uint64_t sum = 0;
  if (2 * i <= n) {
    for (size_t j = 0; j < i; ++j) sum += sums[j];
    return sum;
  }
  for (size_t j = i; j < n; ++j) sum += sums[j];
  COWTREE_DASSERT(sum <= total);
  return total - sum;
}

// The child of `node` whose key range holds `key` (InternalNode::Route), searched from where
// `key` would sit if the children's first keys were spread evenly below `bound` (every key of
// the node's subtree is below bound, or bound is UINT64_MAX).
size_t RouteChild(const InternalNode& node, uint64_t key, uint64_t bound) {
  const size_t n = node.child_count();
  COWTREE_ASSERT(n >= 1);
  const uint64_t* keys = node.first_keys.data();
  const size_t guess = GuessPosition(keys[0], bound, n, key);
  const size_t at_most = CountBelowFrom<true>(keys, n, key, guess);  // first keys <= key
  return at_most == 0 ? 0 : at_most - 1;
}

// The keys of the items at ascending rows k and k + 1 (k + 1 < N) in one descent when both lie
// in one leaf (the usual case: an interpolated percentile reads two neighbouring rows); else
// the second by a descent of its own.
Result<std::pair<uint64_t, uint64_t>> SelectAscendingPair(const TreeVersion& v, uint64_t k) {
  COWTREE_ASSERT(k + 1 < v.positive_count);
  const uint64_t row = k;
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const LeafData> leaf, DescendAscending(v, &k));
  const size_t entries = leaf->keys.size();
  for (size_t j = 0; j < entries; ++j) {
    const uint64_t w = PositivePart(leaf->weight(j));
    if (k >= w) {
      k -= w;
      continue;
    }
    if (k + 1 < w) return std::pair(leaf->keys[j], leaf->keys[j]);
    for (size_t next = j + 1; next < entries; ++next) {
      if (leaf->weight(next) > 0) return std::pair(leaf->keys[j], leaf->keys[next]);
    }
    COWTREE_ASSIGN_OR_RETURN(const uint64_t second, SelectAscending(v, row + 1));
    return std::pair(leaf->keys[j], second);
  }
  COWTREE_ASSERT(false);  // Load() verified the leaf's positive sum against its summary
  return Status::Corruption("leaf holds fewer items than its summary counts");
}

// Visits entries of `node`'s subtree with key >= lo and (if has_hi) key < hi.
Status Visit(const TreeVersion& v, const InternalNode& node, uint64_t lo, bool has_hi, uint64_t hi,
             const EntryVisitor& fn, bool* stopped) {
  const size_t n = node.child_count();
  for (size_t i = node.Route(lo); i < n && !*stopped; ++i) {
    if (has_hi && node.first_keys[i] >= hi) break;
    if (node.level > 1) {
      COWTREE_RETURN_IF_ERROR(Visit(v, *node.nodes[i], lo, has_hi, hi, fn, stopped));
      continue;
    }
    COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const LeafData> leaf,
                             LeafBox::Load(node.leaves[i], v.loader));
    auto it = std::lower_bound(leaf->keys.begin(), leaf->keys.end(), lo);
    for (size_t j = static_cast<size_t>(it - leaf->keys.begin()); j < leaf->keys.size(); ++j) {
      if (has_hi && leaf->keys[j] >= hi) break;
      if (!fn(leaf->keys[j], leaf->weight(j))) {
        *stopped = true;
        break;
      }
    }
  }
  return Status::OK();
}

}  // namespace

Status CheckPercentile(double p) {
  if (std::isnan(p) || p < 0.0 || p > 1.0) {
    // The shortest text that reads back to p: %f printed 1.0000000001 as "1.000000".
    char text[32];
    const auto [end, ec] = std::to_chars(text, text + sizeof(text), p);
    return Status::InvalidArgument("percentile value " +
                                   std::string(text, ec == std::errc() ? end : text) +
                                   " is not between 0 and 1");
  }
  return Status::OK();
}

Result<uint64_t> Rank(const TreeVersion& v, uint64_t key) {
  if (v.root == nullptr) return uint64_t{0};
  uint64_t rank = 0;
  uint64_t bound = UINT64_MAX;  // every key of the current subtree is below it (or it is MAX)
  // The positive sum of the current subtree (the root's is N).
  uint64_t total = v.positive_count;
  const InternalNode* node = v.root.get();
  while (true) {
    const size_t i = RouteChild(*node, key, bound);
    COWTREE_DASSERT(i == node->Route(key));
    // Start the child's cache misses before the sums are added (prefetches only: no reads).
    if (node->level > 1) {
      __builtin_prefetch(node->nodes[i].get());
    } else {
      __builtin_prefetch(node->leaves[i].get());
      __builtin_prefetch(node->entry_counts.data() + i);
      if (i < node->key_hint_capacity) __builtin_prefetch(&node->key_hints[i]);
    }
    if (i + 1 < node->child_count()) bound = node->first_keys[i + 1];
    rank += SumLeftOf(*node, i, total);
    total = node->pos_sums[i];
    if (node->level > 1) {
      node = node->nodes[i].get();
      continue;
    }
    // The leaf's summary from the parent (cached) rather than from its box (a cache miss).
    const uint64_t first = node->first_keys[i];
    if (key <= first) return rank;  // nothing of this leaf is below key: no load
    const size_t n = static_cast<size_t>(node->entry_counts[i]);
    const size_t guess = GuessPosition(first, bound, n, key);
    const LeafSlot slot{node, i};
    PrefetchKeyHint(slot, guess < n ? guess : n - 1);
    const std::shared_ptr<LeafBox>& box = slot.box();
    COWTREE_DASSERT(box->first_key() == first && box->entry_count() == n);
    {
      const LeafBox::ReadPin pin(*box);
      if (pin.data() != nullptr) {
        NoteKeyHint(slot, pin.keys());
        if (box->unit_weights()) return rank + LowerBoundFrom(pin.keys(), n, key, guess);
        return rank + RankInLeaf(*pin.data(), false, key, guess);
      }
    }
    COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const LeafData> leaf, LeafBox::Load(box, v.loader));
    return rank + RankInLeaf(*leaf, box->unit_weights(), key, guess);
  }
}

Result<int64_t> WeightOf(const TreeVersion& v, uint64_t key) {
  if (v.root == nullptr) return int64_t{0};
  const InternalNode* node = v.root.get();
  while (node->level > 1) node = node->nodes[node->Route(key)].get();
  const std::shared_ptr<LeafBox>& box = node->leaves[node->Route(key)];
  if (key < box->first_key()) return int64_t{0};
  COWTREE_ASSIGN_OR_RETURN(std::shared_ptr<const LeafData> leaf, LeafBox::Load(box, v.loader));
  auto it = std::lower_bound(leaf->keys.begin(), leaf->keys.end(), key);
  if (it == leaf->keys.end() || *it != key) return int64_t{0};
  return leaf->weight(static_cast<size_t>(it - leaf->keys.begin()));
}

Result<std::optional<uint64_t>> Select(const TreeVersion& v, uint64_t k, bool descending) {
  const uint64_t n = v.positive_count;
  if (k >= n) return std::optional<uint64_t>();
  COWTREE_ASSIGN_OR_RETURN(uint64_t key, SelectAscending(v, descending ? n - 1 - k : k));
  return std::optional<uint64_t>(key);
}

namespace {

// The code of the item at `row` (in the order asked for) whose canonical code is `key`: the
// code of -0.0 if key is the double zero and row falls among the first negative_zero_items
// zeros in ascending order (query.h, signed zeros).
Result<uint64_t> SignedZeroCode(const TreeVersion& v, uint64_t row, uint64_t key, bool descending,
                                uint64_t negative_zero_items) {
  const uint64_t zero = EncodeDoubleKey(0.0);
  if (negative_zero_items == 0 || v.key_type != KeyType::kDouble || key != zero) return key;
  const uint64_t n = v.positive_count;
  COWTREE_ASSERT(row < n);
  COWTREE_ASSIGN_OR_RETURN(const uint64_t below, Rank(v, zero));
  COWTREE_ASSIGN_OR_RETURN(const int64_t zeros, WeightOf(v, zero));
  COWTREE_ASSERT(zeros > 0 && below + static_cast<uint64_t>(zeros) <= n);  // key was selected
  const uint64_t negatives = std::min(negative_zero_items, static_cast<uint64_t>(zeros));
  const uint64_t ascending_row = descending ? n - 1 - row : row;
  COWTREE_ASSERT(ascending_row >= below && ascending_row - below < static_cast<uint64_t>(zeros));
  if (ascending_row - below >= negatives) return key;
  return ~std::bit_cast<uint64_t>(-0.0);  // DecodeDoubleKey: -0.0
}

// Select, then SignedZeroCode.
Result<uint64_t> SelectSigned(const TreeVersion& v, uint64_t row, bool descending,
                              uint64_t negative_zero_items) {
  COWTREE_ASSIGN_OR_RETURN(std::optional<uint64_t> key, Select(v, row, descending));
  COWTREE_ASSERT(key.has_value());  // callers pass row < N
  return SignedZeroCode(v, row, *key, descending, negative_zero_items);
}

}  // namespace

Result<std::optional<double>> PercentileCont(const TreeVersion& v, double p, bool descending,
                                             uint64_t negative_zero_items) {
  COWTREE_RETURN_IF_ERROR(CheckPercentile(p));
  const uint64_t n = v.positive_count;
  if (n == 0) return std::optional<double>();
  // Position p * (N - 1): rows floor and ceil, both in [0, N - 1] (p <= 1).
  const ScaledRow pos = ScaleRow(p, n - 1, n);
  const uint64_t lo_row = std::min(pos.floor, n - 1);
  const uint64_t hi_row = std::min(pos.floor + (pos.integral ? 0 : 1), n - 1);
  if (hi_row == lo_row) {
    COWTREE_ASSIGN_OR_RETURN(const uint64_t key,
                             SelectSigned(v, lo_row, descending, negative_zero_items));
    return std::optional<double>(KeyToDouble(v.key_type, key));
  }
  // Rows lo and lo + 1: ascending rows m and m + 1 (descending: m = N - 1 - hi_row).
  COWTREE_ASSERT(hi_row == lo_row + 1);
  const uint64_t m = descending ? n - 1 - hi_row : lo_row;
  COWTREE_ASSIGN_OR_RETURN(const auto pair, SelectAscendingPair(v, m));
  COWTREE_ASSIGN_OR_RETURN(const uint64_t lo_key,
                           SignedZeroCode(v, lo_row, descending ? pair.second : pair.first,
                                          descending, negative_zero_items));
  COWTREE_ASSIGN_OR_RETURN(const uint64_t hi_key,
                           SignedZeroCode(v, hi_row, descending ? pair.first : pair.second,
                                          descending, negative_zero_items));
  const double lo_val = KeyToDouble(v.key_type, lo_key);
  const double hi_val = KeyToDouble(v.key_type, hi_key);
  const double value = lo_val + (pos.frac * (hi_val - lo_val));
  // One NaN, whatever made it (-Infinity + Infinity gives a negative NaN on x86, a NaN key a
  // positive one): SQL has one NaN, and callers that compare answers bit for bit (the
  // operator's deltas) must see one.
  return std::optional<double>(std::isnan(value) ? std::numeric_limits<double>::quiet_NaN()
                                                 : value);
}

Result<std::optional<uint64_t>> PercentileDisc(const TreeVersion& v, double p, bool descending,
                                               uint64_t negative_zero_items) {
  COWTREE_RETURN_IF_ERROR(CheckPercentile(p));
  const uint64_t n = v.positive_count;
  if (n == 0) return std::optional<uint64_t>();
  // Smallest K with K / N >= p: K = ceil(p * N) (<= N), at least 1; row K - 1.
  const ScaledRow scaled = ScaleRow(p, n, n);
  const uint64_t k = scaled.floor + (scaled.integral ? 0 : 1);
  const uint64_t row = k == 0 ? 0 : std::min(k - 1, n - 1);
  COWTREE_ASSIGN_OR_RETURN(const uint64_t key,
                           SelectSigned(v, row, descending, negative_zero_items));
  return std::optional<uint64_t>(key);
}

Result<std::optional<double>> Median(const TreeVersion& v) { return PercentileCont(v, 0.5, false); }

Result<uint64_t> RangePositiveSum(const TreeVersion& v, uint64_t lo_key, uint64_t hi_key) {
  if (lo_key >= hi_key) return uint64_t{0};
  COWTREE_ASSIGN_OR_RETURN(uint64_t hi_rank, Rank(v, hi_key));
  COWTREE_ASSIGN_OR_RETURN(uint64_t lo_rank, Rank(v, lo_key));
  COWTREE_ASSERT(lo_rank <= hi_rank);
  return hi_rank - lo_rank;
}

Status ForEach(const TreeVersion& v, uint64_t lo_key, uint64_t hi_key, const EntryVisitor& fn) {
  if (v.root == nullptr || lo_key >= hi_key) return Status::OK();
  bool stopped = false;
  return Visit(v, *v.root, lo_key, /*has_hi=*/true, hi_key, fn, &stopped);
}

Status ForEachAll(const TreeVersion& v, const EntryVisitor& fn) {
  if (v.root == nullptr) return Status::OK();
  bool stopped = false;
  return Visit(v, *v.root, 0, /*has_hi=*/false, 0, fn, &stopped);
}

}  // namespace cowtree::tree
