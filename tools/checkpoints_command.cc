#include "tools/checkpoints_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <vector>

#include "cowtree/cowtree.h"
#include "persistence/manifest.h"
#include "tools/ingest.h"
#include "tools/no_space_advice.h"

namespace cowtree::tools {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int Fail(const Status& st, std::ostream& err) {
  err << "cowtree: " << st.ToString() << NoSpaceAdvice(st) << std::endl;
  return kExitError;
}

// "" if every --except name is a retained checkpoint of `store`; else the usage error. A
// misspelt name would otherwise protect nothing and let --keep-last delete the checkpoint it
// was meant to keep (found by an adversarial run).
std::string UnknownExceptName(Store& store, const std::vector<std::string>& except) {
  const std::vector<Store::CheckpointInfo> retained = store.ListCheckpoints();
  for (const std::string& name : except) {
    const bool found = std::any_of(retained.begin(), retained.end(),
                                   [&](const Store::CheckpointInfo& c) { return c.name == name; });
    if (!found) {
      return "--except " + name + ": no retained checkpoint of that name (nothing deleted; " +
             "`cowtree checkpoints --db DIR` lists them)";
    }
  }
  return std::string();
}

std::vector<std::string> SplitNames(const std::string& csv) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= csv.size() && !csv.empty()) {
    const size_t comma = csv.find(',', start);
    const size_t end = comma == std::string::npos ? csv.size() : comma;
    if (end > start) out.push_back(csv.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Options WriteOptions(uint64_t cache_mib) {
  Options o = WithCliLeafShape(Options());  // a backup writes its leaves with it
  o.create_if_missing = false;
  o.background_thread = false;
  o.checkpoint_on_close = false;
  o.cache_bytes = cache_mib << 20;
  return o;
}

std::string JsonString(const std::string& s) {  // names are [A-Za-z0-9._-]: nothing to escape
  return "\"" + s + "\"";
}

void PrintCheckpoints(const std::vector<Store::CheckpointInfo>& list, const std::string& format,
                      std::ostream& out) {
  if (format == "json") {
    out << "[";
    for (size_t i = 0; i < list.size(); ++i) {
      const Store::CheckpointInfo& c = list[i];
      out << (i == 0 ? "" : ",") << "{\"name\":" << JsonString(c.name)
          << ",\"epoch\":" << c.sequence << ",\"created_unix_ms\":" << c.created_unix_ms
          << ",\"tree_count\":" << c.tree_count << ",\"live_bytes\":" << c.live_bytes << "}";
    }
    out << "]\n";
    return;
  }
  if (format == "csv") {
    out << "name,epoch,created_unix_ms,tree_count,live_bytes\n";
    for (const Store::CheckpointInfo& c : list) {
      out << c.name << "," << c.sequence << "," << c.created_unix_ms << "," << c.tree_count << ","
          << c.live_bytes << "\n";
    }
    return;
  }
  out << "retained checkpoints: " << list.size() << "\n";
  for (const Store::CheckpointInfo& c : list) {
    out << "  " << c.name << "  epoch " << c.sequence << "  trees " << c.tree_count
        << "  live bytes " << c.live_bytes << "  created_unix_ms " << c.created_unix_ms << "\n";
  }
}

}  // namespace

CLI::App* AddCheckpointCommand(CLI::App* app, CheckpointArgs* args, uint64_t* cache_mib) {
  auto* cmd = app->add_subcommand("checkpoint", "write a checkpoint now (--name: retain it)");
  cmd->add_option("--db", args->db, "store directory")->required();
  cmd->add_option("--name", args->name,
                  "retain this checkpoint under NAME (1..64 of [A-Za-z0-9._-])");
  cmd->add_option("--keep-last", args->keep_last,
                  "with --name: then delete every retained checkpoint but the newest N");
  cmd->add_option("--except", args->except, "with --keep-last: NAME[,NAME...] never deleted");
  cmd->add_option("--cache-mib", *cache_mib, "memory budget for tree leaves in MiB");
  return cmd;
}

CLI::App* AddCheckpointsCommand(CLI::App* app, CheckpointsArgs* args, uint64_t* cache_mib) {
  auto* cmd = app->add_subcommand("checkpoints", "list (or delete, trim) retained checkpoints");
  cmd->add_option("--db", args->db, "store directory")->required();
  cmd->add_option("--delete", args->delete_name, "delete the retained checkpoint NAME");
  cmd->add_option("--keep-last", args->keep_last,
                  "delete every retained checkpoint but the newest N (and --except)");
  cmd->add_option("--except", args->except, "with --keep-last: NAME[,NAME...] never deleted");
  cmd->add_option("--format", args->format, "table | csv | json")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  cmd->add_option("--cache-mib", *cache_mib, "memory budget for tree leaves in MiB");
  return cmd;
}

CLI::App* AddBackupCommand(CLI::App* app, BackupArgs* args, uint64_t* cache_mib) {
  auto* cmd = app->add_subcommand(
      "backup", "copy the newest commit (or a retained checkpoint) to a new store directory");
  cmd->add_option("--db", args->db, "store directory")->required();
  cmd->add_option("--to", args->to, "the backup's directory (must not exist)")->required();
  cmd->add_option("--at", args->at, "back up retained checkpoint NAME instead of the newest");
  cmd->add_option("--cache-mib", *cache_mib, "memory budget for tree leaves in MiB");
  return cmd;
}

int RunCheckpointCommand(const CheckpointArgs& args, uint64_t cache_mib, std::ostream& out,
                         std::ostream& err) {
  if ((args.keep_last.has_value() || !args.except.empty()) && !args.name.has_value()) {
    err << "cowtree: --keep-last and --except need --name" << std::endl;
    return kExitUsage;
  }
  const std::vector<std::string> except = SplitNames(args.except);
  if (args.keep_last.has_value() && *args.keep_last == 0 &&
      std::find(except.begin(), except.end(), *args.name) == except.end()) {
    // The checkpoint just named is one of the last N: with N = 0 it would be retained and
    // deleted by the same command.
    err << "cowtree: --keep-last 0 would delete the checkpoint --name " << *args.name
        << " retains: keep at least 1 (or list it in --except)" << std::endl;
    return kExitUsage;
  }
  if (args.name.has_value()) {
    if (std::string bad = CheckCheckpointName(*args.name); !bad.empty()) {
      err << "cowtree: --name: " << bad << std::endl;
      return kExitUsage;
    }
  }
  auto store = Store::Open(args.db, WriteOptions(cache_mib));
  if (!store.ok()) return Fail(store.status(), err);
  // The only writer holds the directory lock: the checkpoint covers the newest sequence.
  const uint64_t sequence = (*store)->GetSnapshot().sequence();
  Status st;
  std::vector<std::string> deleted;
  if (args.name.has_value()) {
    st = (*store)->Checkpoint(*args.name);
    if (st.ok() && args.keep_last.has_value()) {
      if (std::string bad = UnknownExceptName(**store, except); !bad.empty()) {
        // The checkpoint is retained; only the trim is refused.
        (void)(*store)->Close();
        err << "cowtree: " << bad << "; checkpoint " << *args.name << " was retained" << std::endl;
        return kExitUsage;
      }
      st = (*store)->KeepLastCheckpoints(*args.keep_last, except, &deleted);
    }
  } else {
    st = (*store)->Checkpoint();
  }
  if (st.ok()) st = (*store)->Close();
  if (!st.ok()) return Fail(st, err);
  out << "checkpoint written at epoch " << sequence << "\n";
  if (args.name.has_value()) {
    out << "retained checkpoint " << *args.name << " at epoch " << sequence << "\n";
  }
  for (const std::string& name : deleted) out << "deleted retained checkpoint " << name << "\n";
  return 0;
}

int RunCheckpointsCommand(const CheckpointsArgs& args, uint64_t cache_mib, std::ostream& out,
                          std::ostream& err) {
  if (!args.except.empty() && !args.keep_last.has_value()) {
    err << "cowtree: --except needs --keep-last" << std::endl;
    return kExitUsage;
  }
  const bool writes = args.delete_name.has_value() || args.keep_last.has_value();
  Options o = WriteOptions(cache_mib);
  o.read_only = !writes;  // listing takes the shared lock and writes nothing
  auto store = Store::Open(args.db, o);
  if (!store.ok()) return Fail(store.status(), err);
  if (args.delete_name.has_value()) {
    if (Status st = (*store)->DeleteCheckpoint(*args.delete_name); !st.ok()) return Fail(st, err);
    err << "deleted retained checkpoint " << *args.delete_name << std::endl;
  }
  if (args.keep_last.has_value()) {
    const std::vector<std::string> except = SplitNames(args.except);
    if (std::string bad = UnknownExceptName(**store, except); !bad.empty()) {
      (void)(*store)->Close();
      err << "cowtree: " << bad << std::endl;
      return kExitUsage;
    }
    std::vector<std::string> deleted;
    Status st = (*store)->KeepLastCheckpoints(*args.keep_last, except, &deleted);
    if (!st.ok()) return Fail(st, err);
    for (const std::string& name : deleted) err << "deleted retained checkpoint " << name << "\n";
  }
  PrintCheckpoints((*store)->ListCheckpoints(), args.format, out);
  if (Status st = (*store)->Close(); !st.ok()) return Fail(st, err);
  return 0;
}

int RunBackupCommand(const BackupArgs& args, uint64_t cache_mib, std::ostream& out,
                     std::ostream& err) {
  Options o = WriteOptions(cache_mib);
  // The source is only read: shared lock, nothing written. (A process that holds the store
  // open for writing backs it up online through Store::Backup.)
  o.read_only = true;
  auto store = Store::Open(args.db, o);
  if (!store.ok()) return Fail(store.status(), err);
  Result<Snapshot> snapshot = args.at.has_value() ? (*store)->GetCheckpointSnapshot(*args.at)
                                                  : Result<Snapshot>((*store)->GetSnapshot());
  if (!snapshot.ok()) return Fail(snapshot.status(), err);
  const uint64_t sequence = snapshot->sequence();
  Result<std::vector<TreeDescription>> listed = snapshot->ListTrees();
  if (!listed.ok()) return Fail(listed.status(), err);
  const size_t trees = listed->size();
  if (Status st = (*store)->Backup(*snapshot, args.to); !st.ok()) return Fail(st, err);
  out << "backup of "
      << (args.at.has_value() ? "retained checkpoint " + *args.at : "the newest commit")
      << " (epoch " << sequence << ", " << trees << " trees) written to " << args.to << "\n";
  return 0;
}

}  // namespace cowtree::tools
