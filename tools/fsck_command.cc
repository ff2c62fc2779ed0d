// `cowtree fsck` (see fsck_command.h).
#include "tools/fsck_command.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <CLI/CLI.hpp>

#include "persistence/node_id.h"
#include "persistence/ot_entry.h"
#include "recovery/fsck.h"
#include "recovery/json_text.h"

namespace cowtree::tools {
namespace {

// Valid JSON for every finding: messages quote tree names, which are arbitrary bytes.
using Writer = recovery::Utf8SafeWriter<rapidjson::Writer<rapidjson::StringBuffer>>;

void Key(Writer& w, const char* key) { w.Key(key); }
void Str(Writer& w, const char* key, const std::string& s) {
  w.Key(key);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}
void Num(Writer& w, const char* key, uint64_t v) {
  w.Key(key);
  w.Uint64(v);
}

std::string Json(const std::string& db, const recovery::FsckReport& r) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "store", db);
  Key(w, "findings");
  w.StartArray();
  for (const recovery::FsckFinding& f : r.findings) {
    w.StartObject();
    Str(w, "severity", recovery::FsckSeverityName(f.severity));
    Str(w, "structure", f.structure);
    Str(w, "file", f.file);
    Num(w, "offset", f.offset_bytes);
    Num(w, "node_id", f.node_id);
    Str(w, "node", f.node_id == 0 ? "" : DescribeNodeId(NodeID::FromRaw(f.node_id)));
    Str(w, "message", f.message);
    Key(w, "repaired");
    w.Bool(f.repaired);
    w.EndObject();
  }
  w.EndArray();
  Key(w, "counters");
  w.StartObject();
  Num(w, "objects_checked", r.objects_checked);
  Num(w, "leaves_checked", r.leaves_checked);
  Num(w, "index_chunks_checked", r.index_chunks_checked);
  Num(w, "trees_checked", r.trees_checked);
  Num(w, "inline_trees_checked", r.inline_trees_checked);
  Num(w, "retained_checkpoints_checked", r.retained_checkpoints_checked);
  Num(w, "log_frames_checked", r.log_frames_checked);
  Num(w, "log_bytes_dropped", r.log_bytes_dropped);
  Num(w, "ot_entries", r.ot_entries);
  Num(w, "commits_past_checkpoint", r.commits_past_checkpoint);
  w.EndObject();
  Num(w, "errors", r.errors());
  Num(w, "warnings", r.warnings());
  Num(w, "infos", r.infos());
  Num(w, "repaired", r.repaired());
  Key(w, "exit_code");
  w.Int(r.ExitCode());
  w.EndObject();
  return buf.GetString();
}

std::string OperationalJson(const std::string& db, const Status& st) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "store", db);
  Str(w, "error", st.ToString());
  Key(w, "exit_code");
  w.Int(kFsckExitOperational);
  w.EndObject();
  return buf.GetString();
}

}  // namespace

CLI::App* AddFsckCommand(CLI::App* app, FsckCommandArgs* args) {
  CLI::App* cmd = app->add_subcommand(
      "fsck", "check a store without changing it (exit 0 clean, 1 repaired, 4 errors, 8 failed)");
  cmd->add_option("--db", args->db, "store directory")->required();
  cmd->add_flag("--json", args->json, "print one JSON object");
  cmd->add_flag("--repair", args->repair,
                "repair what is safe: torn log tail, leaked slots, a bad superblock copy, "
                "leftover files (docs/fsck.md)");
  return cmd;
}

int RunFsckCommand(const FsckCommandArgs& args, std::ostream& out, std::ostream& err) {
  recovery::FsckOptions options;
  options.repair = args.repair;
  Result<recovery::FsckReport> report = recovery::Fsck(args.db, options);
  if (!report.ok()) {
    if (args.json) out << OperationalJson(args.db, report.status()) << "\n";
    err << "cowtree fsck: " << report.status().ToString() << "\n";
    return kFsckExitOperational;
  }
  const recovery::FsckReport& r = *report;
  if (args.json) {
    out << Json(args.db, r) << "\n";
  } else {
    for (const recovery::FsckFinding& f : r.findings) out << recovery::FormatFinding(f) << "\n";
    out << "cowtree fsck " << args.db << ": " << r.errors() << " errors, " << r.warnings()
        << " warnings, " << r.infos() << " notes, " << r.repaired() << " repaired; checked "
        << r.objects_checked << " objects, " << r.leaves_checked << " leaves, " << r.trees_checked
        << " trees, " << r.log_frames_checked << " log frames"
        << (r.retained_checkpoints_checked == 0
                ? std::string()
                : ", " + std::to_string(r.retained_checkpoints_checked) + " retained checkpoints")
        << "; exit " << r.ExitCode() << "\n";
  }
  return r.ExitCode();
}

}  // namespace cowtree::tools
