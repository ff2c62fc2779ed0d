#include "tools/compact_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "persistence/compaction.h"
#include "persistence/env.h"
#include "recovery/open.h"
#include "tools/ingest.h"
#include "tools/no_space_advice.h"

namespace cowtree::tools {
namespace {

constexpr int kMaxRounds = 8;

// Sum of the sizes of the regular files of dir (what `du --apparent-size` counts).
uint64_t DirectoryBytes(Env* env, const std::string& dir) {
  std::vector<std::string> names;
  if (!env->ListDir(dir, &names).ok()) return 0;
  uint64_t total = 0;
  for (const std::string& name : names) {
    Result<uint64_t> size = env->FileSize(JoinPath(dir, name));
    if (size.ok()) total += *size;
  }
  return total;
}

std::string Fixed(double value, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

}  // namespace

CLI::App* AddCompactCommand(CLI::App* app, CompactCommandArgs* args, uint64_t* cache_mib) {
  CLI::App* cmd = app->add_subcommand(
      "compact", "move live objects to the front of the data files and cut the free end");
  cmd->add_option("--db", args->db, "store directory")->required();
  cmd->add_option("--dead-ratio", args->dead_ratio,
                  "only data files whose free bytes / file bytes is at least this (default 0)")
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            // Parsed as the option parses it; NaN passes CLI::Range (both comparisons false).
            double v = 0;
            if (!CLI::detail::lexical_cast(text, v) || !(v >= 0.0 && v <= 0.99))
              return "expected a number in [0, 0.99], got " + text;
            return "";
          },
          "[0 - 0.99]"));
  cmd->add_option("--cache-mib", *cache_mib,
                  "memory budget for tree leaves in MiB (0 = unlimited; default 1024)");
  return cmd;
}

int RunCompactCommand(const CompactCommandArgs& args, uint64_t cache_mib, std::ostream& out,
                      std::ostream& err) {
  Env* env = Env::Default();
  RuntimeOptions o;
  o.cache_bytes = cache_mib << 20;
  // A replay on open writes leaves too: with the shape the command writes them with.
  o.leaf_capacity_entries = kCliLeafCapacityEntries;
  o.leaf_capacity_bytes = kCliLeafCapacityBytes;
  o.create_if_missing = false;
  o.background_thread = false;
  auto runtime = recovery::Open(args.db, o);
  if (!runtime.ok()) {
    err << "cowtree: " << runtime.status().ToString() << NoSpaceAdvice(runtime.status())
        << std::endl;
    return 1;
  }
  const uint64_t dir_before = DirectoryBytes(env, args.db);
  CompactionOptions co;
  co.dead_ratio = args.dead_ratio;
  CompactionReport total;
  int rounds = 0;
  const auto start = std::chrono::steady_clock::now();
  Status st;
  for (; rounds < kMaxRounds; ++rounds) {
    CompactionReport r;
    st = (*runtime)->Compact(co, &r);
    if (!st.ok()) break;
    if (rounds == 0) total.data_bytes_before = r.data_bytes_before;
    total.data_bytes_after = r.data_bytes_after;
    total.objects_relocated += r.objects_relocated;
    total.relocated_bytes += r.relocated_bytes;
    total.truncated_bytes += r.truncated_bytes;
    total.punched_bytes = std::max(total.punched_bytes, r.punched_bytes);
    if (r.objects_relocated == 0 && r.truncated_bytes == 0) {
      ++rounds;
      break;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Status closed = (*runtime)->Close();
  if (st.ok()) st = closed;
  if (!st.ok()) {
    err << "cowtree: compaction of " << args.db << " failed: " << st.ToString() << NoSpaceAdvice(st)
        << std::endl;
    return 1;
  }
  const uint64_t dir_after = DirectoryBytes(env, args.db);
  out << "store:              " << args.db << "\n"
      << "data files:         " << total.data_bytes_before << " -> " << total.data_bytes_after
      << " bytes\n"
      << "store directory:    " << dir_before << " -> " << dir_after << " bytes\n"
      << "relocated:          " << total.objects_relocated << " objects, " << total.relocated_bytes
      << " bytes in " << Fixed(secs, 3) << " s ("
      << Fixed(secs > 0 ? static_cast<double>(total.relocated_bytes) / secs / 1e6 : 0, 1)
      << " MB/s)\n"
      << "truncated:          " << total.truncated_bytes << " bytes in " << rounds
      << (rounds == 1 ? " round" : " rounds") << "; holes punched over " << total.punched_bytes
      << " bytes of free slots\n";
  return 0;
}

}  // namespace cowtree::tools
