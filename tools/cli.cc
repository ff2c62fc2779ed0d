#include "tools/cli.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <optional>

#include "cowtree/cowtree.h"
#include "recovery/open.h"
#include "tools/bench_command.h"
#include "tools/checkpoints_command.h"
#include "tools/compact_command.h"
#include "tools/demo.h"
#include "tools/dump_command.h"
#include "tools/fsck_command.h"
#include "tools/ingest.h"
#include "tools/no_space_advice.h"
#include "tools/query.h"

namespace cowtree::tools {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int Fail(const Status& st) {
  std::cerr << "cowtree: " << st.ToString() << NoSpaceAdvice(st) << std::endl;
  return st.IsInvalidArgument() && st.message().rfind("--", 0) == 0 ? kExitUsage : kExitError;
}

// What a commit acknowledged in each durability mode survives (persistence/runtime_options.h,
// docs/recovery.md). The default intervals are RuntimeOptions' (100 ms each).
constexpr const char* kDurabilityHelp =
    "strict | balanced | eventual. strict: a commit is acknowledged after fdatasync and "
    "survives a crash or power loss. balanced (default): acknowledged when written to the OS; "
    "survives a process crash, but acknowledged rows may be lost on a power loss within "
    "sync_interval_ms (100 ms). eventual: acknowledged while still in the process's buffer; "
    "acknowledged rows may be lost on a process crash or power loss within flush_interval_ms "
    "(100 ms). In every mode a crash leaves a prefix of the commits, never a partial one.";
constexpr const char* kLogCommitsHelp =
    "print 'committed EPOCH ROWS_TOTAL' after each batch, once its last commit is acknowledged "
    "(durable only as "
    "--durability says: with eventual a crash within flush_interval_ms, with balanced a power "
    "loss within sync_interval_ms, may still lose it)";

// Read-only commands (query, stat) open read-only: a shared directory lock, nothing written
// (not even the torn log tail is truncated), so they run on a read-only mount or copy.
// query (a data command) goes through the public API (include/cowtree/); stat, fsck and dump
// are administration commands that report the store's internals, so they use the layers below.
// --cache-mib N of every command that opens a store: the memory budget of its leaves
// (Options::cache_bytes, docs/memory_budget.md); 0 = unlimited. Default: kCacheMibDefault.
constexpr uint64_t kCacheMibDefault = 1024;  // a laptop: 1 GiB of tree memory
uint64_t g_cache_mib = kCacheMibDefault;
constexpr const char* kCacheMibHelp =
    "memory budget for tree leaves in MiB (clean leaves are evicted, dirty ones checkpointed "
    "early; 0 = unlimited; default 1024)";

Options ReadStoreOptions() {
  Options o;
  o.cache_bytes = g_cache_mib << 20;
  o.read_only = true;
  o.create_if_missing = false;
  o.checkpoint_on_close = false;
  o.background_thread = false;
  return o;
}

RuntimeOptions ReadOptions() {
  RuntimeOptions o;
  o.cache_bytes = g_cache_mib << 20;
  o.read_only = true;  // shared lock, writes nothing: works on a read-only mount or copy
  o.create_if_missing = false;
  o.checkpoint_on_close = false;
  o.background_thread = false;
  return o;
}

// Output to stdout that could not be written (EPIPE, ENOSPC, ...) is an error, never a
// silent success: flushes stdout and, if any write failed, says so and returns error_code.
// The errno is known when the failing write is this flush (output smaller than stdout's
// buffer); a write that failed earlier has left only the stream's failbit.
int CheckStdout(int exit_code, int error_code = kExitError) {
  int err = 0;
  if (std::cout) {
    errno = 0;
    std::cout.flush();
    err = errno;
  }
  if (std::cout) return exit_code;
  std::cerr << "cowtree: cannot write to stdout: "
            << (err != 0 ? std::strerror(err) : "write error") << std::endl;
  return exit_code == 0 ? error_code : exit_code;
}

int RunQuery(const std::string& db, const std::string& percentiles,
             const std::optional<std::string>& group, bool disc, bool desc,
             const std::string& format_name, const std::optional<std::string>& at) {
  auto ps = ParsePercentiles(percentiles);
  if (!ps.ok()) {
    std::cerr << "cowtree: " << ps.status().message() << std::endl;
    return kExitUsage;
  }
  OutputFormat format = OutputFormat::kTable;
  if (format_name == "csv")
    format = OutputFormat::kCsv;
  else if (format_name == "json")
    format = OutputFormat::kJson;
  auto store = Store::Open(db, ReadStoreOptions());
  if (!store.ok()) return Fail(store.status());
  // --at NAME: the answers as of retained checkpoint NAME (a point-in-time read).
  Result<Snapshot> snap = at.has_value() ? (*store)->GetCheckpointSnapshot(*at)
                                         : Result<Snapshot>((*store)->GetSnapshot());
  if (!snap.ok()) return Fail(snap.status());
  auto rows = ComputePercentiles(*snap, *ps, disc, desc, group);
  if (!rows.ok()) return Fail(rows.status());
  PrintRows(*rows, *ps, format, std::cout);
  return 0;  // the caller flushes and checks stdout
}

int RunStat(const std::string& db) {
  recovery::OpenReport report;
  auto runtime = recovery::Open(db, ReadOptions(), &report);
  if (!runtime.ok()) return Fail(runtime.status());
  RuntimeStats s = (*runtime)->GetStats();
  // Internal trees (ingest resume markers, tools/ingest.h; the NULL and -0 value counts,
  // api/sql_groups.h) are counted apart from the groups; the NULL group is a group.
  uint64_t internal_trees = 0, internal_entries = 0;
  {
    RuntimeSnapshot snap = (*runtime)->GetSnapshot();
    for (const TreeInfo& t : (*runtime)->ListTrees(snap)) {
      if (IsGroupTree(t.name)) continue;
      ++internal_trees;
      auto restored = (*runtime)->FindTree(t.name, snap);
      if (!restored.ok()) return Fail(restored.status());
      internal_entries += restored->tree->entry_count();
    }
  }
  std::cout << "store:              " << db << "\n"
            << "trees:              " << s.tree_count - internal_trees << "\n"
            << "entries:            " << s.entry_count - internal_entries << "\n";
  if (internal_trees > 0) {
    std::cout << "internal trees:     " << internal_trees << " (" << internal_entries
              << " entries: ingest resume markers, NULL and -0 value counts)\n";
  }
  std::cout << "leaves:             " << s.leaf_count << "\n"
            << "live objects:       " << s.live_objects << "\n"
            << "visible epoch:      " << s.visible_epoch << "\n"
            << "checkpoint epoch:   " << s.checkpoint_epoch << "\n"
            << "superblock gen:     " << s.superblock_generation << "\n"
            << "commits replayed:   " << report.commits_replayed << "\n"
            << "log dropped bytes:  " << report.replay.dropped_bytes << "\n"
            << "files:\n";
  uint64_t total = 0;
  for (const auto& [name, bytes] : s.file_bytes) {
    std::cout << "  " << name << std::string(name.size() < 24 ? 24 - name.size() : 1, ' ') << bytes
              << " bytes\n";
    total += bytes;
  }
  std::cout << "total bytes:        " << total << "\n";
  return 0;
}

}  // namespace

int RunCli(int argc, char** argv) {
  // A closed stdout (`cowtree ... | head`) must not kill the process silently in the middle of
  // an ingest: writes fail with EPIPE instead, and each command reports it (CheckStdout, and
  // ingest stops after its last commit with exit code 4).
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"cowtree: durable order-statistics trees on a copy-on-write store"};
  app.require_subcommand(1);

  IngestOptions ingest;
  std::string durability = "balanced", value_type = "auto";
  auto* ingest_cmd = app.add_subcommand("ingest", "load CSV rows into one tree per group");
  ingest_cmd->add_option("--db", ingest.db, "store directory (created if missing)")->required();
  ingest_cmd->add_option("--group", ingest.group_column, "group column name")->required();
  ingest_cmd->add_option("--value", ingest.value_column, "value column name")->required();
  ingest_cmd->add_option("--weight", ingest.weight_column, "integer weight column (default 1)");
  ingest_cmd
      ->add_option("--batch-rows", ingest.batch_rows,
                   "rows per batch: each batch is sorted by group and value and committed in "
                   "that order (default: as many rows as half of --cache-mib holds: 8 B "
                   "per row of the batch's first group with weight 1, else 16 B, 24 with "
                   "--weight; the store gets the rest)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
  ingest_cmd
      ->add_option("--commit-ops", ingest.commit_ops,
                   "most ops (rows with a value) per commit (default 10000): a larger batch is "
                   "several commits in key order, and a crash between them leaves part of it "
                   "(--resume completes it); a value above what a batch holds does not enlarge "
                   "the batch past --cache-mib (each batch is then one commit)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
  ingest_cmd
      ->add_option("--batch-ms", ingest.batch_ms,
                   "when the input is not a regular file (stdin pipe, FIFO): commit pending rows "
                   "at least every N ms, also while waiting for input (default 1000; 0 = only "
                   "by the batch's size)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{86400000}));
  ingest_cmd->add_option(
      "--spill-dir", ingest.spill_dir,
      "directory for sorted runs: a batch that fills its memory is sorted and written there "
      "instead of committed, and the batch ends only at the end of the input (or --batch-rows, "
      "or --batch-ms for a pipe); its runs are then merged and committed in one pass, so a "
      "file much larger than --cache-mib writes each leaf once instead of once per batch "
      "(created if missing; one ingest at a time; not in the store's directory)");
  ingest_cmd->add_flag("--resume", ingest.resume,
                       "skip the data rows of this input that an earlier ingest into this store "
                       "committed (after a failure or kill), instead of adding them again");
  ingest_cmd->add_option("--input-id", ingest.input_id,
                         "identity of the input for --resume (required for stdin; default for "
                         "a file: its absolute path + a hash of its first 64 KiB)");
  ingest_cmd->add_option("--durability", durability, kDurabilityHelp)
      ->check(CLI::IsMember({"strict", "balanced", "eventual"}));
  ingest_cmd->add_option("--value-type", value_type, "auto | int64 | double")
      ->check(CLI::IsMember({"auto", "int64", "double"}));
  ingest_cmd->add_flag("--log-commits", ingest.log_commits, kLogCommitsHelp);
  ingest_cmd->add_option("--checkpoint-log-bytes", ingest.store.checkpoint_log_bytes,
                         "checkpoint after this many log bytes (0 = only on close)");
  ingest_cmd->add_option("input", ingest.input, "CSV file (.zst allowed) or - for stdin");
  ingest_cmd->add_option("--cache-mib", g_cache_mib, kCacheMibHelp);
  std::string i_percentiles = "0.5";
  ingest_cmd->add_option("--emit-deltas", ingest.emit_deltas,
                         "write the output deltas of every commit as CSV "
                         "(group,weight,n,P1,...; weight -1 retracts a row, +1 inserts one) to "
                         "FILE, or - for stdout; with --resume, FILE is reconciled with the store");
  ingest_cmd->add_option("--percentile", i_percentiles,
                         "P[,P...] in [0,1]: the outputs of --emit-deltas (default 0.5)");
  ingest_cmd->add_flag("--disc", ingest.deltas.disc, "--emit-deltas: PERCENTILE_DISC");
  ingest_cmd->add_flag("--desc", ingest.deltas.descending, "--emit-deltas: ORDER BY value DESC");

  std::string q_db, q_percentiles, q_format = "table";
  std::optional<std::string> q_group, q_at;
  bool q_disc = false, q_desc = false;
  auto* query_cmd = app.add_subcommand("query", "percentiles per group");
  query_cmd->add_option("--db", q_db, "store directory")->required();
  query_cmd->add_option("--percentile", q_percentiles, "P[,P...] in [0,1]")->required();
  query_cmd->add_option("--group", q_group, "only this group");
  query_cmd->add_flag("--disc", q_disc, "PERCENTILE_DISC instead of PERCENTILE_CONT");
  query_cmd->add_flag("--desc", q_desc, "ORDER BY value DESC");
  query_cmd->add_option("--cache-mib", g_cache_mib, kCacheMibHelp);
  query_cmd->add_option("--at", q_at,
                        "answer as of retained checkpoint NAME (cowtree checkpoints)");
  query_cmd->add_option("--format", q_format, "table | csv | json")
      ->check(CLI::IsMember({"table", "csv", "json"}));

  CheckpointArgs checkpoint_args;
  CLI::App* checkpoint_cmd = AddCheckpointCommand(&app, &checkpoint_args, &g_cache_mib);
  CheckpointsArgs checkpoints_args;
  CLI::App* checkpoints_cmd = AddCheckpointsCommand(&app, &checkpoints_args, &g_cache_mib);
  BackupArgs backup_args;
  CLI::App* backup_cmd = AddBackupCommand(&app, &backup_args, &g_cache_mib);

  std::string s_db;
  auto* stat_cmd = app.add_subcommand("stat", "trees, entries, leaves, bytes per file, epochs");
  stat_cmd->add_option("--db", s_db, "store directory")->required();
  stat_cmd->add_option("--cache-mib", g_cache_mib, kCacheMibHelp);

  DemoOptions demo;
  auto* demo_cmd = app.add_subcommand("demo", "the main job on the bundled real flights data");
  demo_cmd->add_option("--input", demo.input, "flights CSV (default: bundled 200k-row slice)");
  demo_cmd->add_option("--db", demo.db, "store directory (default: a temporary one)");
  demo_cmd->add_flag("--keep", demo.keep, "keep the temporary store");

  BenchOptions bench;
  std::string bench_durability = "balanced";
  auto* bench_cmd =
      app.add_subcommand("bench", "ingest rate, store size, reopen time, query latency");
  bench_cmd->add_option("--input", bench.input, "CSV (.zst allowed; default: bundled slice)");
  bench_cmd->add_option("--db", bench.db, "store directory (default: a temporary one)");
  bench_cmd->add_option("--group", bench.group_column, "group column (default origin)");
  bench_cmd->add_option("--value", bench.value_column, "value column (default delay)");
  bench_cmd->add_option("--durability", bench_durability, kDurabilityHelp)
      ->check(CLI::IsMember({"strict", "balanced", "eventual"}));
  bench_cmd->add_option("--reopens", bench.reopens, "reopen runs (median reported)")
      ->check(CLI::Range(1u, 1000u));
  bench_cmd->add_option("--queries", bench.queries, "percentile queries to time");

  FsckCommandArgs fsck_args;
  CLI::App* fsck_cmd = AddFsckCommand(&app, &fsck_args);
  DumpCommandArgs dump_args;
  CLI::App* dump_cmd = AddDumpCommand(&app, &dump_args);
  CompactCommandArgs compact_args;
  CLI::App* compact_cmd = AddCompactCommand(&app, &compact_args, &g_cache_mib);

  // Options held in unsigned integers: CLI11 reads "-1" into one as 2^64 - 1 (a --queries -1
  // ran forever), so a value below 0 is a usage error here.
  for (CLI::App* sub : app.get_subcommands({})) {
    for (CLI::Option* opt : sub->get_options()) {
      const std::string& name = opt->get_name();
      if (name == "--batch-rows" || name == "--commit-ops" || name == "--batch-ms" ||
          name == "--checkpoint-log-bytes" || name == "--cache-mib" || name == "--keep-last" ||
          name == "--queries" || name == "--reopens") {
        opt->check(CLI::Validator(
            [](std::string& value) {
              return !value.empty() && value[0] == '-'
                         ? "expected a whole number >= 0, found " + value
                         : std::string();
            },
            "UINT"));
      }
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  if (g_cache_mib > (uint64_t{1} << 40)) {
    std::cerr << "cowtree: --cache-mib: expected a whole number of MiB from 0 (unlimited) to 2^40"
              << std::endl;
    return kExitUsage;
  }
  if (*ingest_cmd && g_cache_mib == 1) {
    // Half of the budget holds the batch being sorted (tools/ingest.h), and a store's budget is
    // 0 or at least 1 MiB.
    std::cerr << "cowtree: --cache-mib 1: ingest needs 0 (unlimited) or at least 2 (half of it "
                 "holds the batch being sorted, the store needs at least 1 MiB)"
              << std::endl;
    return kExitUsage;
  }
  if (*ingest_cmd) {
    ingest.store.cache_bytes = g_cache_mib << 20;
    ParseDurability(durability, &ingest.durability);
    ingest.value_type = value_type == "int64"    ? ValueType::kInt64
                        : value_type == "double" ? ValueType::kDouble
                                                 : ValueType::kAuto;
    ingest.progress = true;
    auto ps = ParsePercentiles(i_percentiles);
    if (!ps.ok()) {
      std::cerr << "cowtree: " << ps.status().message() << std::endl;
      return kExitUsage;
    }
    ingest.deltas.percentiles = std::move(ps).value();
    if (ingest.emit_deltas == "-") ingest.progress = false;  // stdout carries the deltas
    const IngestOutcome outcome = RunIngestReport(ingest, std::cout);
    // One line on stderr: what was committed, always (tools/ingest.h "Outcome").
    std::cerr << (outcome.end == IngestEnd::kOk ? "" : "cowtree: ")
              << DescribeIngestOutcome(ingest, outcome) << std::endl;
    return IngestExitCode(outcome);
  }
  if (*fsck_cmd) {
    return CheckStdout(RunFsckCommand(fsck_args, std::cout, std::cerr), kFsckExitOperational);
  }
  if (*dump_cmd) return CheckStdout(RunDumpCommand(dump_args, std::cout, std::cerr));
  if (*compact_cmd)
    return CheckStdout(RunCompactCommand(compact_args, g_cache_mib, std::cout, std::cerr));
  if (*query_cmd) {
    return CheckStdout(RunQuery(q_db, q_percentiles, q_group, q_disc, q_desc, q_format, q_at));
  }
  if (*checkpoint_cmd) {
    return CheckStdout(RunCheckpointCommand(checkpoint_args, g_cache_mib, std::cout, std::cerr));
  }
  if (*checkpoints_cmd) {
    return CheckStdout(RunCheckpointsCommand(checkpoints_args, g_cache_mib, std::cout, std::cerr));
  }
  if (*backup_cmd) {
    return CheckStdout(RunBackupCommand(backup_args, g_cache_mib, std::cout, std::cerr));
  }
  if (*stat_cmd) return CheckStdout(RunStat(s_db));
  if (*bench_cmd) {
    ParseDurability(bench_durability, &bench.durability);
    Status st = RunBench(bench, std::cout);
    if (!st.ok()) return Fail(st);
    return CheckStdout(0);
  }
  if (*demo_cmd) {
    Status st = RunDemo(demo, std::cout);
    if (!st.ok()) return Fail(st);
    return CheckStdout(0);
  }
  return kExitUsage;
}

}  // namespace cowtree::tools
