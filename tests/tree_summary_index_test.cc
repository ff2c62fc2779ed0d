// The multi-level summary index (tree/summary_index.h): round trips at 1, 2, 3 and more levels
// with lowered chunk limits, partial rewrites (one changed leaf rewrites one chunk per level),
// every level's corruption detected with the parent's offset and the expected value, and the
// skip-and-continue mode fsck uses.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "tree/key_codec.h"
#include "tree/summary_index.h"

namespace cowtree::tree {
namespace {

// An object store in memory that records what was written.
class FakeStore {
 public:
  Result<NodeID> Write(ObjectKind kind, std::string body) {
    const NodeID id = NodeID::Make(next_++, 1);
    objects_[id.raw()] = {kind, std::move(body)};
    writes_.push_back({kind, id});
    return id;
  }
  Result<std::string> Read(NodeID id, ObjectKind kind) const {
    auto it = objects_.find(id.raw());
    if (it == objects_.end()) return Status::NotFound("no object " + DescribeNodeId(id));
    if (it->second.first != kind) return Status::Corruption("wrong kind");
    return it->second.second;
  }
  std::string& Body(NodeID id) { return objects_.at(id.raw()).second; }
  ChunkWriteFn Writer() {
    return [this](ObjectKind k, std::string b) { return Write(k, std::move(b)); };
  }
  std::vector<std::pair<ObjectKind, NodeID>>& writes() { return writes_; }

 private:
  uint64_t next_ = 1;
  std::map<uint64_t, std::pair<ObjectKind, std::string>> objects_;
  std::vector<std::pair<ObjectKind, NodeID>> writes_;
};

std::vector<PersistedSummary> Leaves(size_t n, uint64_t id_base = 1000000) {
  std::vector<PersistedSummary> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back({EncodeInt64Key(static_cast<int64_t>(i) * 10 - 500), i % 5,
                   static_cast<uint32_t>(1 + i % 7), NodeID::Make(id_base + i, 1)});
  }
  return out;
}

TreeDescriptor Header(std::span<const PersistedSummary> s) {
  TreeDescriptor d;
  d.key_type = KeyType::kInt64;
  d.leaf_capacity_entries = 8;
  d.fanout = 4;
  d.leaf_count = s.size();
  for (const PersistedSummary& x : s) {
    d.entry_count += x.entry_count;
    d.positive_count += x.pos_sum;
  }
  return d;
}

struct Written {
  TreeDescriptor desc;
  PersistedIndex index;
};

Written Write(FakeStore* store, std::span<const PersistedSummary> s, const PersistedIndex& old,
              SummaryIndexLimits limits) {
  Written w;
  w.desc = Header(s);
  EXPECT_TRUE(
      WriteSummaryIndex(KeyType::kInt64, s, old, limits, store->Writer(), &w.desc, &w.index).ok());
  // The descriptor must be what the decoder accepts (the host writes it next).
  EXPECT_TRUE(DecodeTreeDescriptor(EncodeTreeDescriptor(w.desc)).ok());
  return w;
}

// Reads the index back as restore does: the summaries and the in-memory index.
Status ReadBack(const FakeStore& store, const TreeDescriptor& d, std::vector<PersistedSummary>* all,
                PersistedIndex* index) {
  index->levels.assign(d.index_height - 1, {});
  SummaryIndexReader r;
  r.read = [&](NodeID id, ObjectKind k) { return store.Read(id, k); };
  r.on_index_chunk = [&](NodeID id, const IndexChunk& c) {
    index->levels[c.level - 1].push_back({id, c.refs});
  };
  r.on_summary_chunk = [&](NodeID id, std::vector<PersistedSummary> s) {
    all->insert(all->end(), s.begin(), s.end());
    index->chunks.push_back({id, std::move(s)});
  };
  return ReadSummaryIndex(d, r);
}

void ExpectSameIndex(const PersistedIndex& a, const PersistedIndex& b) {
  ASSERT_EQ(a.chunks.size(), b.chunks.size());
  for (size_t i = 0; i < a.chunks.size(); ++i) {
    EXPECT_EQ(a.chunks[i].chunk_id, b.chunks[i].chunk_id);
    EXPECT_EQ(a.chunks[i].summaries, b.chunks[i].summaries);
  }
  ASSERT_EQ(a.levels.size(), b.levels.size());
  for (size_t l = 0; l < a.levels.size(); ++l) {
    ASSERT_EQ(a.levels[l].size(), b.levels[l].size()) << "level " << l + 1;
    for (size_t i = 0; i < a.levels[l].size(); ++i) {
      EXPECT_EQ(a.levels[l][i].chunk_id, b.levels[l][i].chunk_id);
      EXPECT_EQ(a.levels[l][i].refs, b.levels[l][i].refs);
    }
  }
}

struct HeightCase {
  size_t leaves;
  SummaryIndexLimits limits;
  uint32_t height;
};

class SummaryIndexRoundTrip : public ::testing::TestWithParam<HeightCase> {};

TEST_P(SummaryIndexRoundTrip, WritesAndReadsBack) {
  const HeightCase& c = GetParam();
  FakeStore store;
  const std::vector<PersistedSummary> s = Leaves(c.leaves);
  Written w = Write(&store, s, {}, c.limits);
  EXPECT_EQ(w.desc.index_height, c.height);
  EXPECT_LE(w.desc.refs.size(), c.limits.refs_per_chunk);
  EXPECT_EQ(w.index.levels.size(), c.height - 1);
  // The descriptor survives its own encoding; the chunks read back in key order.
  auto d = DecodeTreeDescriptor(EncodeTreeDescriptor(w.desc));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  std::vector<PersistedSummary> all;
  PersistedIndex index;
  ASSERT_TRUE(ReadBack(store, *d, &all, &index).ok());
  EXPECT_EQ(all, s);
  ExpectSameIndex(index, w.index);  // restore plans the next checkpoint from the same state
  // Every object written is referenced exactly once.
  std::vector<NodeID> ids;
  index.AppendChunkIds(&ids);
  EXPECT_EQ(ids.size(), store.writes().size());
}

INSTANTIATE_TEST_SUITE_P(Heights, SummaryIndexRoundTrip,
                         ::testing::Values(HeightCase{1, {4, 4}, 1}, HeightCase{16, {4, 4}, 1},
                                           HeightCase{17, {4, 4}, 2}, HeightCase{64, {4, 4}, 2},
                                           HeightCase{65, {4, 4}, 3}, HeightCase{256, {4, 4}, 3},
                                           HeightCase{257, {4, 4}, 4}, HeightCase{3000, {2, 2}, 11},
                                           HeightCase{
                                               5000, {kSummaryChunkEntriesMax, kIndexRefsMax}, 1},
                                           // One summary per chunk: 12 000 chunks, more than a
                                           // version-1 descriptor could name (10 918 in 256 KiB,
                                           // the old cap): two levels now.
                                           HeightCase{12000, {1, kIndexRefsMax}, 2}));

// The cap is gone: with the default limits one descriptor names 817 summary chunks of 1022
// leaves; the leaf count at which each height starts, and 10^10 entries in 3 levels.
TEST(SummaryIndexArithmetic, HeightsWithDefaultLimits) {
  const uint64_t per_chunk = kSummaryChunkEntriesMax, refs = kIndexRefsMax;
  EXPECT_EQ(per_chunk * refs, 834974u);            // height 1 up to here (full chunks)
  EXPECT_EQ(per_chunk * refs * refs, 682173758u);  // height 2
  // 10^10 entries at the worst leaf fill (capacity 240, half full = 120 entries) and the worst
  // chunk fill (a quarter: new chunks below max / 4 are coalesced) still fit in 3 levels.
  const uint64_t leaves = 10'000'000'000ull / 120;                         // 83.3 M leaves
  const uint64_t chunks = (leaves + per_chunk / 4 - 1) / (per_chunk / 4);  // 327 K
  const uint64_t level1 = (chunks + refs / 4 - 1) / (refs / 4);            // 1 602
  const uint64_t level2 = (level1 + refs / 4 - 1) / (refs / 4);            // 8
  EXPECT_GT(level1, refs);
  EXPECT_LE(level2, refs);  // the descriptor names level-2 chunks: index_height 3
}

TEST(SummaryIndexRewrite, OneChangedLeafRewritesOneChunkPerLevel) {
  const SummaryIndexLimits limits{4, 4};
  FakeStore store;
  std::vector<PersistedSummary> s = Leaves(200);
  Written w = Write(&store, s, {}, limits);
  ASSERT_EQ(w.desc.index_height, 3u);
  // Nothing changed: nothing written, the same descriptor refs.
  store.writes().clear();
  Written same = Write(&store, s, w.index, limits);
  EXPECT_TRUE(store.writes().empty());
  EXPECT_EQ(same.desc.refs, w.desc.refs);
  for (size_t victim : {0u, 57u, 199u}) {
    store.writes().clear();
    s[victim].leaf_id = NodeID::Make(5000000 + victim, 1);  // the leaf was rewritten
    s[victim].pos_sum += 1;
    Written next = Write(&store, s, w.index, limits);
    ASSERT_EQ(store.writes().size(), 3u) << "victim " << victim;  // its path: 1 chunk per level
    EXPECT_EQ(store.writes()[0].first, ObjectKind::kSummaryChunk);
    EXPECT_EQ(store.writes()[1].first, ObjectKind::kSummaryIndexChunk);
    EXPECT_EQ(store.writes()[2].first, ObjectKind::kSummaryIndexChunk);
    // Only the top ref on the path changed in the descriptor.
    ASSERT_EQ(next.desc.refs.size(), w.desc.refs.size());
    size_t changed = 0;
    for (size_t j = 0; j < next.desc.refs.size(); ++j)
      changed += next.desc.refs[j] != w.desc.refs[j];
    EXPECT_EQ(changed, 1u);
    std::vector<PersistedSummary> all;
    PersistedIndex index;
    ASSERT_TRUE(ReadBack(store, next.desc, &all, &index).ok());
    EXPECT_EQ(all, s);
    w = next;
  }
}

// Random inserts, deletes and updates over many checkpoints, each planned from the previous
// one: the index always reads back exactly, writes stay proportional to what changed, and the
// height stays logarithmic.
TEST(SummaryIndexRewrite, RandomHistoryReadsBackEveryTime) {
  const SummaryIndexLimits limits{3, 3};
  std::mt19937_64 rng(7);
  std::map<uint64_t, PersistedSummary> leaves;  // by key code
  uint64_t next_id = 1000000;
  auto add = [&](int64_t k) {
    leaves[EncodeInt64Key(k)] = {EncodeInt64Key(k), rng() % 9, static_cast<uint32_t>(1 + rng() % 8),
                                 NodeID::Make(next_id++, 1)};
  };
  for (int i = 0; i < 300; ++i) add(static_cast<int64_t>(rng() % 100000));
  FakeStore store;
  PersistedIndex old;
  size_t total_writes = 0, total_chunks = 0;
  for (int round = 0; round < 60; ++round) {
    const int changes = 1 + static_cast<int>(rng() % 6);
    for (int c = 0; c < changes; ++c) {
      const int op = static_cast<int>(rng() % 3);
      if (op == 0 || leaves.size() < 10) {
        add(static_cast<int64_t>(rng() % 100000));
      } else {
        auto it = leaves.lower_bound(rng());
        if (it == leaves.end()) it = leaves.begin();
        if (op == 1) {
          leaves.erase(it);
        } else {
          it->second.leaf_id = NodeID::Make(next_id++, 1);
          it->second.entry_count = static_cast<uint32_t>(1 + rng() % 8);
        }
      }
    }
    std::vector<PersistedSummary> s;
    for (const auto& [k, v] : leaves) s.push_back(v);
    store.writes().clear();
    Written w = Write(&store, s, old, limits);
    total_writes += store.writes().size();
    total_chunks += w.index.chunks.size();
    for (const auto& level : w.index.levels) total_chunks += level.size();
    EXPECT_LE(w.desc.index_height, 7u);
    std::vector<PersistedSummary> all;
    PersistedIndex index;
    ASSERT_TRUE(ReadBack(store, w.desc, &all, &index).ok()) << "round " << round;
    EXPECT_EQ(all, s);
    ExpectSameIndex(index, w.index);
    old = std::move(index);
  }
  // A few changes per round rewrite a small share of the ~140 chunks (not the whole index).
  EXPECT_LT(total_writes * 5, total_chunks) << total_writes << " of " << total_chunks;
}

// ---- Corruption of each level ----

class SummaryIndexCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    s_ = Leaves(200);
    w_ = Write(&store_, s_, {}, {4, 4});
    ASSERT_EQ(w_.desc.index_height, 3u);
  }
  Status Read() {
    std::vector<PersistedSummary> all;
    PersistedIndex index;
    return ReadBack(store_, w_.desc, &all, &index);
  }
  void ExpectCorrupt(const std::string& needle) {
    Status st = Read();
    EXPECT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find(needle), std::string::npos)
        << "'" << needle << "' not in: " << st.message();
  }
  // Re-encodes index chunk `id` after `edit` (a forged but well-formed chunk).
  template <typename Edit>
  void ForgeIndex(NodeID id, Edit edit) {
    auto c = DecodeIndexChunk(store_.Body(id));
    ASSERT_TRUE(c.ok());
    edit(&*c);
    store_.Body(id) = EncodeIndexChunk(*c);
  }
  NodeID Level(uint32_t level, size_t i) const { return w_.index.levels[level - 1][i].chunk_id; }

  FakeStore store_;
  std::vector<PersistedSummary> s_;
  Written w_;
};

TEST_F(SummaryIndexCorruption, Clean) { EXPECT_TRUE(Read().ok()); }

TEST_F(SummaryIndexCorruption, SummaryChunkBitFlip) {
  std::string& b = store_.Body(w_.index.chunks[5].chunk_id);
  b[20] ^= 1;
  ExpectCorrupt("summary chunk body offset " + std::to_string(b.size() - 4) + ": crc32c");
}

TEST_F(SummaryIndexCorruption, SummaryChunkTotalsDifferFromLevel1Ref) {
  const NodeID id = w_.index.chunks[5].chunk_id;
  std::vector<PersistedSummary> forged = w_.index.chunks[5].summaries;
  forged[1].pos_sum += 7;
  store_.Body(id) = EncodeSummaryChunk(forged);
  // Chunk 5 is ref 1 of the second level-1 chunk: offset 16 + 40 + 32 = 88 (pos_sum).
  ExpectCorrupt("summary index chunk " + DescribeNodeId(Level(1, 1)) + " body offset 88: ref 1");
  ExpectCorrupt("expected " + std::to_string(w_.index.levels[0][1].refs[1].pos_sum));
}

TEST_F(SummaryIndexCorruption, SummaryChunkKeyRange) {
  // The last summary of chunk 0 moved to just at the next chunk's first key: counts and sums
  // unchanged, so only the key range check sees it.
  std::vector<PersistedSummary> forged = w_.index.chunks[0].summaries;
  forged.back().first_key = w_.index.chunks[1].summaries.front().first_key;
  store_.Body(w_.index.chunks[0].chunk_id) = EncodeSummaryChunk(forged);
  ExpectCorrupt("offset 64: ref 0 names summary chunk");  // ref 1's first_key: 16 + 40 + 8
  ExpectCorrupt("(key range)");
}

TEST_F(SummaryIndexCorruption, Level1ChunkEntriesDifferFromLevel2Ref) {
  ForgeIndex(Level(1, 2), [](IndexChunk* c) { c->refs[0].entry_count += 1; });
  // Level-1 chunk 2 is ref 2 of the first level-2 chunk: 16 + 80 + 24 = 120 (entry_count).
  ExpectCorrupt("summary index chunk " + DescribeNodeId(Level(2, 0)) + " body offset 120: ref 2");
  ExpectCorrupt("entries, expected");
}

TEST_F(SummaryIndexCorruption, Level2ChunkLeafCountDiffersFromDescriptor) {
  ForgeIndex(Level(2, 1), [](IndexChunk* c) { c->refs.pop_back(); });
  ExpectCorrupt("tree descriptor body offset 104: ref 1 names level-2 index chunk");  // 48+40+16
}

TEST_F(SummaryIndexCorruption, WrongLevelAndKeyType) {
  ForgeIndex(Level(2, 0), [](IndexChunk* c) { c->level = 1; });
  ExpectCorrupt("offset 7: level 1, expected 2");
  SetUp();
  ForgeIndex(Level(1, 0), [](IndexChunk* c) { c->key_type = KeyType::kDouble; });
  ExpectCorrupt("offset 6: key_type 2, expected the descriptor's 1");
}

TEST_F(SummaryIndexCorruption, DescriptorRefDiffersFromChild) {
  w_.desc.refs[0].first_key -= 1;
  ExpectCorrupt("tree descriptor body offset 56: ref 0 names level-2 index chunk");
  ExpectCorrupt("starts at key code");
}

TEST_F(SummaryIndexCorruption, MissingChunkIsTheReadError) {
  store_.Body(Level(1, 0)).clear();
  ExpectCorrupt("summary index chunk body offset 0: body ends after 0 bytes");
  SetUp();
  w_.desc.refs[1].child_id = NodeID::Make(999999, 3);
  Status st = Read();
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
}

// fsck's mode: a bad subtree is reported and skipped, the rest is still read.
TEST_F(SummaryIndexCorruption, SkippingContinuesWithTheOtherSubtrees) {
  store_.Body(Level(1, 1))[20] ^= 1;
  std::vector<IndexProblem> problems;
  size_t summaries = 0;
  SummaryIndexReader r;
  r.read = [&](NodeID id, ObjectKind k) { return store_.Read(id, k); };
  r.on_summary_chunk = [&](NodeID, std::vector<PersistedSummary> s) { summaries += s.size(); };
  r.on_problem = [&](const IndexProblem& p) {
    problems.push_back(p);
    return true;
  };
  ASSERT_TRUE(ReadSummaryIndex(w_.desc, r).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].id, Level(1, 1));
  EXPECT_EQ(problems[0].level, 1u);
  EXPECT_EQ(problems[0].kind, ObjectKind::kSummaryIndexChunk);
  uint64_t skipped = 0;
  for (const IndexRef& ref : w_.index.levels[0][1].refs) skipped += ref.leaf_count;
  EXPECT_EQ(summaries, s_.size() - skipped);
}

}  // namespace
}  // namespace cowtree::tree
