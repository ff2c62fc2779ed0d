// recovery::Dump*: builds one document per structure from fsck's readers, then renders it
// (recovery/dump_render.h).
#include "recovery/dump.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>

#include "persistence/file_names.h"
#include "recovery/dump_render.h"
#include "recovery/fsck_context.h"
#include "recovery/store_dir.h"
#include "tree/key_codec.h"
#include "tree/node_format.h"
#include "tree/order_stat_tree_type.h"

namespace cowtree::recovery {
namespace {

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

// Appends members to JSON objects without the overload pitfalls of AddMember.
class Builder {
 public:
  explicit Builder(Alloc& a) : a_(a) {}
  Value Str(const std::string& s) { return Value(s.c_str(), static_cast<unsigned>(s.size()), a_); }
  void V(Value& o, const char* key, Value v) { o.AddMember(Value(key, a_), v, a_); }
  void U(Value& o, const char* key, uint64_t x) { V(o, key, Value(static_cast<uint64_t>(x))); }
  void I(Value& o, const char* key, int64_t x) { V(o, key, Value(static_cast<int64_t>(x))); }
  void S(Value& o, const char* key, const std::string& s) { V(o, key, Str(s)); }
  void B(Value& o, const char* key, bool b) { V(o, key, Value(b)); }
  void Push(Value& array, Value v) { array.PushBack(v, a_); }
  Alloc& alloc() { return a_; }

 private:
  Alloc& a_;
};

std::string NodeText(uint64_t raw) {
  if (raw == 0) return "none";
  const NodeID id = NodeID::FromRaw(raw);
  return std::to_string(id.handle()) + "/" + std::to_string(static_cast<int>(id.tag()));
}

// A key as a JSON value: the int64, or the double (non-finite values as strings).
Value KeyValue(tree::KeyType type, uint64_t code) {
  if (type == tree::KeyType::kInt64) return Value(static_cast<int64_t>(tree::DecodeInt64Key(code)));
  const double d = tree::DecodeDoubleKey(code);
  if (std::isnan(d)) return Value(rapidjson::StringRef("NaN"));
  if (std::isinf(d)) return Value(rapidjson::StringRef(d > 0 ? "Infinity" : "-Infinity"));
  return Value(d);
}

const char* KindName(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kLeaf:
      return "leaf";
    case ObjectKind::kSummaryChunk:
      return "summary-chunk";
    case ObjectKind::kTreeDescriptor:
      return "tree-descriptor";
    case ObjectKind::kSummaryIndexChunk:
      return "summary-index-chunk";
    case ObjectKind::kCatalogChunk:
      return "catalog-chunk";
    case ObjectKind::kCatalogRoot:
      return "catalog-root";
    case ObjectKind::kCatalogRootPage:
      return "catalog-root-page";
  }
  return "other";
}

// The readers (fsck passes) up to the superblock; NotFound if this is no store.
Result<std::unique_ptr<fsck::Context>> StartContext(const std::string& dir,
                                                    const DumpOptions& options) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  FsckOptions fo;
  fo.env = env;
  fo.wal_recovery_mode = options.wal_recovery_mode;
  auto ctx = std::make_unique<fsck::Context>(env, dir, fo);
  COWTREE_RETURN_IF_ERROR(fsck::ListFiles(*ctx));
  // The classification Open and fsck share (recovery/store_dir.h).
  COWTREE_ASSIGN_OR_RETURN(StoreDirInfo info, ClassifyStoreDir(env, dir));
  if (info.state == StoreDirState::kLostSuperblock) {
    return Status::Corruption(dir + ": " + info.reason + " (run `cowtree fsck --db DIR`)");
  }
  if (info.state != StoreDirState::kStore) {
    return Status::NotFound(dir + ": no " + std::string(kSuperblockFileName) + " (" +
                            StoreDirStateName(info.state) + ")");
  }
  fsck::CheckSuperblock(*ctx);
  return ctx;
}

// Runs the passes that rebuild the object table (manifest, OT checkpoint, log, allocator).
void LoadTable(fsck::Context& ctx) {
  if (!ctx.sb.has_value()) return;
  fsck::CheckManifest(ctx);
  fsck::LoadOtCheckpoint(ctx);
  fsck::CheckLog(ctx);
  if (ctx.table_usable) fsck::CheckAllocator(ctx);
}

void AddProblems(Builder& b, Value& doc, const fsck::Context& ctx) {
  Value problems(rapidjson::kArrayType);
  for (const FsckFinding& f : ctx.report.findings) {
    Value p(rapidjson::kObjectType);
    b.S(p, "severity", FsckSeverityName(f.severity));
    b.S(p, "structure", f.structure);
    b.S(p, "file", f.file);
    b.U(p, "offset", f.offset_bytes);
    b.S(p, "node", NodeText(f.node_id));
    b.S(p, "message", f.message);
    b.Push(problems, std::move(p));
  }
  b.V(doc, "problems", std::move(problems));
}

Status Emit(rapidjson::Document& doc, const DumpOptions& options, std::ostream& out) {
  dump_internal::Render(doc, options.format, out);
  return out.good() ? Status::OK() : Status::IOError("dump: writing the output failed");
}

Value SuperblockFields(Builder& b, const SuperblockData& d) {
  Value o(rapidjson::kObjectType);
  b.U(o, "generation", d.generation);
  b.U(o, "checkpoint_epoch", d.checkpoint_epoch);
  b.U(o, "manifest_generation", d.manifest_generation);
  b.U(o, "ot_checkpoint_id", d.ot_checkpoint_id);
  b.S(o, "log_replay_position",
      LogPosition{d.log_replay_file_number, d.log_replay_offset_bytes}.ToString());
  b.S(o, "catalog_root", NodeText(d.catalog_root));
  b.U(o, "catalog_root_raw", d.catalog_root);
  b.U(o, "ot_handle_count", d.ot_handle_count);
  b.S(o, "store_id", d.store_id.ToHex());
  return o;
}

Value EntryValue(Builder& b, NodeID id, const OtEntry& e) {
  Value o(rapidjson::kObjectType);
  b.S(o, "node", NodeText(id.raw()));
  b.U(o, "handle", id.handle());
  b.U(o, "tag", id.tag());
  b.S(o, "kind", KindName(e.kind));
  b.U(o, "size_class", e.address.size_class_bytes);
  b.U(o, "offset", e.address.offset_bytes);
  b.U(o, "length", e.address.length_bytes);
  b.U(o, "birth", e.birth_epoch);
  if (e.retired()) {
    b.U(o, "retire", e.retire_epoch);
  } else {
    b.S(o, "retire", "live");
  }
  b.U(o, "crc32c", e.payload_crc32c);
  return o;
}

}  // namespace

Status DumpSuperblock(const std::string& dir, const DumpOptions& options, std::ostream& out) {
  COWTREE_ASSIGN_OR_RETURN(auto ctx, StartContext(dir, options));
  rapidjson::Document doc(rapidjson::kObjectType);
  Builder b(doc.GetAllocator());
  b.S(doc, "file", kSuperblockFileName);
  b.U(doc, "file_bytes", ctx->superblock_file_bytes);
  if (ctx->sb_copy >= 0) {
    b.U(doc, "copy_used", static_cast<uint64_t>(ctx->sb_copy));
  } else {
    b.V(doc, "copy_used", Value());
  }
  Value copies(rapidjson::kArrayType);
  for (const fsck::SuperblockCopyView& c : ctx->copies) {
    Value o(rapidjson::kObjectType);
    b.U(o, "index", c.index);
    b.U(o, "offset", c.offset_bytes);
    if (c.data.has_value()) {
      b.S(o, "status", "ok");
      Value fields = SuperblockFields(b, *c.data);
      for (auto& m : fields.GetObject()) o.AddMember(m.name, m.value, b.alloc());
    } else {
      b.S(o, "status", c.never_written ? "never written" : "bad");
      b.S(o, "error", c.status.message());
      b.U(o, "stored_generation", c.raw_generation);
    }
    b.Push(copies, std::move(o));
  }
  b.V(doc, "copies", std::move(copies));
  AddProblems(b, doc, *ctx);
  return Emit(doc, options, out);
}

Status DumpManifest(const std::string& dir, const DumpOptions& options, std::ostream& out) {
  COWTREE_ASSIGN_OR_RETURN(auto ctx, StartContext(dir, options));
  if (ctx->sb.has_value()) fsck::CheckManifest(*ctx);
  rapidjson::Document doc(rapidjson::kObjectType);
  Builder b(doc.GetAllocator());
  if (ctx->manifest.has_value()) {
    const Manifest& m = *ctx->manifest;
    b.S(doc, "file", ManifestFileName(m.generation));
    b.U(doc, "generation", m.generation);
    b.S(doc, "store_id", m.store_id.ToHex());
    Value data(rapidjson::kArrayType);
    for (const ManifestDataFile& f : m.data_files) {
      Value o(rapidjson::kObjectType);
      b.S(o, "name", f.name);
      b.U(o, "size_class_bytes", f.size_class_bytes);
      b.U(o, "size_bytes", f.size_bytes);
      auto it = ctx->data_file_bytes.find(f.size_class_bytes);
      if (it != ctx->data_file_bytes.end()) b.U(o, "bytes_on_disk", it->second);
      b.Push(data, std::move(o));
    }
    b.V(doc, "data_files", std::move(data));
    Value ots(rapidjson::kArrayType);
    for (const ManifestOtCheckpoint& c : m.ot_checkpoints) {
      Value o(rapidjson::kObjectType);
      b.S(o, "name", c.name);
      b.U(o, "id", c.id);
      b.U(o, "epoch", c.epoch);
      b.Push(ots, std::move(o));
    }
    b.V(doc, "ot_checkpoints", std::move(ots));
    Value logs(rapidjson::kArrayType);
    for (const ManifestLogFile& l : m.log_files) {
      Value o(rapidjson::kObjectType);
      b.S(o, "name", l.name);
      b.U(o, "number", l.number);
      b.U(o, "first_epoch", l.first_epoch);
      b.U(o, "last_epoch", l.last_epoch);
      b.Push(logs, std::move(o));
    }
    b.V(doc, "log_files", std::move(logs));
  } else {
    b.V(doc, "file", Value());
  }
  AddProblems(b, doc, *ctx);
  return Emit(doc, options, out);
}

Status DumpObjectTable(const std::string& dir, const DumpOptions& options, std::ostream& out) {
  COWTREE_ASSIGN_OR_RETURN(auto ctx, StartContext(dir, options));
  LoadTable(*ctx);
  rapidjson::Document doc(rapidjson::kObjectType);
  Builder b(doc.GetAllocator());
  if (ctx->sb.has_value()) {
    b.U(doc, "checkpoint_epoch", ctx->sb->checkpoint_epoch);
    Value otc(rapidjson::kObjectType);
    if (ctx->sb->ot_checkpoint_id != 0) {
      b.S(otc, "file", OtCheckpointFileName(ctx->sb->ot_checkpoint_id));
      b.U(otc, "id", ctx->sb->ot_checkpoint_id);
      b.U(otc, "epoch", ctx->ot_epoch);
      b.U(otc, "entries", ctx->ot_checkpoint_entries);
      b.B(otc, "loaded", ctx->table_usable);
    } else {
      b.S(otc, "file", "none (empty object table)");
    }
    b.V(doc, "ot_checkpoint", std::move(otc));
    b.U(doc, "ot_delta_records_applied", ctx->ot_delta_records_applied);
    b.U(doc, "ot_delta_records_ignored", ctx->ot_delta_records_ignored);
    b.U(doc, "live_entries", ctx->live.size());
    Value entries(rapidjson::kArrayType);
    ctx->table->ForEachLive(
        [&](NodeID id, const OtEntry& e) { b.Push(entries, EntryValue(b, id, e)); });
    b.V(doc, "entries", std::move(entries));
  }
  AddProblems(b, doc, *ctx);
  return Emit(doc, options, out);
}

Status DumpLog(const std::string& dir, const DumpOptions& options, std::ostream& out) {
  COWTREE_ASSIGN_OR_RETURN(auto ctx, StartContext(dir, options));
  rapidjson::Document doc(rapidjson::kObjectType);
  Builder b(doc.GetAllocator());
  Value frames(rapidjson::kArrayType);
  ctx->on_frame = [&](const LogRecord& r, fsck::FrameRole role) {
    Value o(rapidjson::kObjectType);
    b.S(o, "at", r.start.ToString());
    b.S(o, "role", fsck::FrameRoleName(role));
    b.S(o, "type", LogRecordTypeName(r.type));
    b.U(o, "epoch", r.epoch);
    b.U(o, "synced_offset", r.synced_offset_bytes);
    b.U(o, "payload_bytes", r.payload.size());
    if (r.type == LogRecordType::kCommit) {
      Result<CommitRecordView> rec = DecodeCommitRecord(r.payload);
      if (rec.ok()) {
        Value creates(rapidjson::kArrayType), drops(rapidjson::kArrayType);
        Value op_trees(rapidjson::kArrayType), op_counts(rapidjson::kArrayType);
        for (const CommitCreate& c : rec->creates) {
          b.Push(creates, b.Str(c.name + "#" + std::to_string(c.tree_id)));
        }
        for (TreeId id : rec->drops) b.Push(drops, Value(static_cast<uint64_t>(id)));
        for (const CommitOps& s : rec->ops) {
          b.Push(op_trees, Value(static_cast<uint64_t>(s.tree_id)));
          b.Push(op_counts, Value(static_cast<uint64_t>(s.ops.size() / tree::kOrderStatOpBytes)));
        }
        b.V(o, "creates", std::move(creates));
        b.V(o, "drops", std::move(drops));
        b.V(o, "op_trees", std::move(op_trees));
        b.V(o, "op_counts", std::move(op_counts));
      } else {
        b.S(o, "decode_error", rec.status().message());
      }
    }
    b.Push(frames, std::move(o));
  };
  if (ctx->sb.has_value()) {
    fsck::LoadOtCheckpoint(*ctx);  // CheckLog applies the OT deltas to this table
    fsck::CheckLog(*ctx);
    const SuperblockData& sb = *ctx->sb;
    b.S(doc, "replay_position",
        LogPosition{sb.log_replay_file_number, sb.log_replay_offset_bytes}.ToString());
    b.U(doc, "checkpoint_epoch", sb.checkpoint_epoch);
    b.S(doc, "wal_recovery_mode", WalRecoveryModeName(options.wal_recovery_mode));
    b.V(doc, "frames", std::move(frames));
    Value replay(rapidjson::kObjectType);
    b.S(replay, "status", ctx->replay_status.ok() ? "ok" : ctx->replay_status.ToString());
    b.S(replay, "stop_reason", ReplayStopReasonName(ctx->replay.stop_reason));
    b.S(replay, "end", ctx->replay.end.ToString());
    b.U(replay, "records_read", ctx->replay.records_read);
    b.U(replay, "dropped_bytes", ctx->replay.dropped_bytes);
    b.U(replay, "commits_past_checkpoint", ctx->commits.size());
    b.S(replay, "description", ctx->replay.description);
    b.V(doc, "replay", std::move(replay));
  }
  AddProblems(b, doc, *ctx);
  return Emit(doc, options, out);
}

Status DumpTree(const std::string& dir, const std::string& tree_name, const DumpOptions& options,
                std::ostream& out) {
  COWTREE_ASSIGN_OR_RETURN(auto ctx, StartContext(dir, options));
  LoadTable(*ctx);
  if (!ctx->sb.has_value() || !ctx->table_usable) {
    rapidjson::Document doc(rapidjson::kObjectType);
    Builder b(doc.GetAllocator());
    b.V(doc, "tree", Value());
    AddProblems(b, doc, *ctx);
    return Emit(doc, options, out);
  }
  fsck::ReadCatalog(*ctx);
  const CatalogEntry* entry = nullptr;
  for (const CatalogEntry& e : ctx->catalog) {
    if (e.name == tree_name) entry = &e;
  }
  if (entry == nullptr) {
    return Status::NotFound("no tree named '" + tree_name + "' in the checkpoint's catalog" +
                            (ctx->catalog_ok ? "" : " (the catalog could not be read completely)"));
  }
  // An inline tree (docs/catalog.md) has no object to read: its one leaf is in the entry.
  const bool is_inline = !entry->descriptor.valid();
  fsck::TreeImage img;
  img.entry = *entry;
  img.key_type = static_cast<tree::KeyType>(entry->params.empty() ? 0 : entry->params[0]);
  if (!is_inline) img = fsck::ReadTreeImage(*ctx, *entry);
  rapidjson::Document doc(rapidjson::kObjectType);
  Builder b(doc.GetAllocator());
  auto place = [&](Value& o, NodeID id) {
    Result<OtEntry> e = ctx->table->Get(id);
    if (!e.ok()) return;
    b.S(o, "file", fsck::DataFileOf(*e));
    b.U(o, "offset", e->address.offset_bytes);
  };
  Value t(rapidjson::kObjectType);
  b.S(t, "name", entry->name);
  b.U(t, "tree_id", entry->tree_id);
  b.U(t, "type_id", entry->type_id);
  b.S(t, "key_type", std::string(tree::KeyTypeName(img.key_type)));
  b.U(t, "create_epoch", entry->create_epoch);
  b.S(t, "descriptor", NodeText(entry->descriptor.raw()));
  b.S(t, "storage", is_inline ? "inline" : "objects");
  if (is_inline) b.U(t, "inline_bytes", entry->inline_body.size());
  b.V(doc, "tree", std::move(t));
  b.U(doc, "checkpoint_epoch", ctx->sb->checkpoint_epoch);
  uint64_t redo = 0;
  for (const fsck::CommitInfo& c : ctx->commits) {
    redo += std::any_of(c.ops.begin(), c.ops.end(),
                        [&](const auto& op) { return op.first == entry->tree_id; });
  }
  b.U(doc, "redo_records_after_checkpoint", redo);
  if (img.descriptor.has_value()) {
    const tree::TreeDescriptor& d = *img.descriptor;
    Value o(rapidjson::kObjectType);
    b.S(o, "node", NodeText(img.descriptor_id.raw()));
    place(o, img.descriptor_id);
    b.U(o, "leaf_capacity_entries", d.leaf_capacity_entries);
    b.U(o, "fanout", d.fanout);
    b.U(o, "positive_count", d.positive_count);
    b.U(o, "entry_count", d.entry_count);
    b.U(o, "leaf_count", d.leaf_count);
    b.U(o, "format_version", d.format_version);
    b.U(o, "index_height", d.index_height);
    b.U(o, "ref_count", d.refs.size());
    b.V(doc, "descriptor", std::move(o));
  }
  // Index chunks (levels >= 1; none in a one-level index), parents before children.
  Value index(rapidjson::kArrayType);
  for (const auto& [id, chunk] : img.index_chunks) {
    Value c(rapidjson::kObjectType);
    b.U(c, "level", chunk.level);
    b.S(c, "node", NodeText(id.raw()));
    place(c, id);
    b.U(c, "ref_count", chunk.refs.size());
    b.V(c, "first_key", KeyValue(img.key_type, chunk.refs.front().first_key));
    uint64_t leaves = 0, entries = 0, pos = 0;
    for (const tree::IndexRef& r : chunk.refs) {
      leaves += r.leaf_count;
      entries += r.entry_count;
      pos += r.pos_sum;
    }
    b.U(c, "leaf_count", leaves);
    b.U(c, "entry_count", entries);
    b.U(c, "positive_count", pos);
    b.Push(index, std::move(c));
  }
  b.V(doc, "index_chunks", std::move(index));
  Value chunks(rapidjson::kArrayType);
  Value leaves(rapidjson::kArrayType);
  // A leaf's keys and weights (dump --entries), for leaves in objects and inline alike.
  auto add_entries = [&](Value& l, const tree::LeafData& data) {
    Value keys(rapidjson::kArrayType), weights(rapidjson::kArrayType);
    for (size_t i = 0; i < data.keys.size(); ++i) {
      b.Push(keys, KeyValue(img.key_type, data.keys[i]));
      b.Push(weights, Value(static_cast<int64_t>(data.weight(i))));
    }
    b.V(l, "keys", std::move(keys));
    b.V(l, "weights", std::move(weights));
  };
  size_t leaf_index = 0;
  for (size_t j = 0; j < img.chunks.size(); ++j) {
    const auto& [chunk_id, summaries] = img.chunks[j];
    Value c(rapidjson::kObjectType);
    b.U(c, "chunk", j);
    b.S(c, "node", NodeText(chunk_id.raw()));
    place(c, chunk_id);
    b.U(c, "summaries", summaries.size());
    b.V(c, "first_key", KeyValue(img.key_type, summaries.front().first_key));
    b.Push(chunks, std::move(c));
    for (const tree::PersistedSummary& s : summaries) {
      Value l(rapidjson::kObjectType);
      b.U(l, "leaf", leaf_index++);
      b.U(l, "chunk", j);
      b.S(l, "node", NodeText(s.leaf_id.raw()));
      place(l, s.leaf_id);
      b.V(l, "first_key", KeyValue(img.key_type, s.first_key));
      b.U(l, "pos_sum", s.pos_sum);
      b.U(l, "entry_count", s.entry_count);
      if (options.entries) {
        auto data = fsck::ReadLeaf(*ctx, s.leaf_id, img.key_type);
        if (data.ok()) {
          add_entries(l, **data);
        } else {
          b.S(l, "error", data.status().message());
        }
      }
      b.Push(leaves, std::move(l));
    }
  }
  if (is_inline && !entry->inline_body.empty()) {
    Value l(rapidjson::kObjectType);
    b.U(l, "leaf", 0);
    b.S(l, "node", "inline");
    auto data = tree::DecodeLeaf(entry->inline_body, img.key_type);
    if (data.ok()) {
      uint64_t pos_sum = 0;
      (void)tree::LeafPositiveSum(**data, &pos_sum);
      b.V(l, "first_key", KeyValue(img.key_type, (*data)->keys.front()));
      b.U(l, "pos_sum", pos_sum);
      b.U(l, "entry_count", (*data)->entry_count());
      if (options.entries) add_entries(l, **data);
    } else {
      b.S(l, "error", data.status().message());
    }
    b.Push(leaves, std::move(l));
  }
  b.V(doc, "summary_chunks", std::move(chunks));
  b.V(doc, "leaves", std::move(leaves));
  AddProblems(b, doc, *ctx);
  return Emit(doc, options, out);
}

}  // namespace cowtree::recovery
