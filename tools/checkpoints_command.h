// Retained checkpoints on the command line (docs/retained_checkpoints.md):
//   cowtree checkpoint --db DIR [--name NAME [--keep-last N] [--except A,B]]
//       writes a checkpoint; with --name retains it under NAME (then, with --keep-last, deletes
//       every retained checkpoint but the newest N and those of --except); prints
//       "checkpoint written at epoch E" and, with --name, "retained checkpoint NAME at epoch E".
//   cowtree checkpoints --db DIR [--delete NAME] [--keep-last N [--except A,B]] [--format F]
//       lists the retained checkpoints (table | csv | json: name, epoch, created, trees,
//       live bytes), after deleting NAME or trimming to the newest N if asked. Read-only
//       (shared lock) when it only lists.
//   cowtree backup --db DIR --to DIR2 [--at NAME]
//       online backup (Store::Backup) of the newest commit, or of retained checkpoint NAME, to a
//       new store DIR2 (built in DIR2.partial, renamed when complete). Restore: use DIR2 as the
//       store, or back it up again to a new directory.
// Exit codes: 0 done, 1 error (no store, no such checkpoint, lock busy, I/O error), 2 usage
// (bad name, --except without --keep-last).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace cowtree::tools {

struct CheckpointArgs {
  std::string db;
  std::optional<std::string> name;
  std::optional<uint64_t> keep_last;
  std::string except;  // comma-separated names
};
struct CheckpointsArgs {
  std::string db;
  std::optional<std::string> delete_name;
  std::optional<uint64_t> keep_last;
  std::string except;
  std::string format = "table";
};
struct BackupArgs {
  std::string db;
  std::string to;
  std::optional<std::string> at;
};

// Register the subcommands on app (cache_mib: the --cache-mib variable they share).
CLI::App* AddCheckpointCommand(CLI::App* app, CheckpointArgs* args, uint64_t* cache_mib);
CLI::App* AddCheckpointsCommand(CLI::App* app, CheckpointsArgs* args, uint64_t* cache_mib);
CLI::App* AddBackupCommand(CLI::App* app, BackupArgs* args, uint64_t* cache_mib);
// Run them; return the exit code (messages on err, results on out).
int RunCheckpointCommand(const CheckpointArgs& args, uint64_t cache_mib, std::ostream& out,
                         std::ostream& err);
int RunCheckpointsCommand(const CheckpointsArgs& args, uint64_t cache_mib, std::ostream& out,
                          std::ostream& err);
int RunBackupCommand(const BackupArgs& args, uint64_t cache_mib, std::ostream& out,
                     std::ostream& err);

}  // namespace cowtree::tools
