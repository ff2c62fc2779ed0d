// `cowtree dump` (see dump_command.h).
#include "tools/dump_command.h"

#include <CLI/CLI.hpp>

#include "recovery/dump.h"

namespace cowtree::tools {

CLI::App* AddDumpCommand(CLI::App* app, DumpCommandArgs* args) {
  CLI::App* cmd = app->add_subcommand("dump", "print one structure of a store (read-only)");
  cmd->add_option("--db", args->db, "store directory")->required();
  cmd->add_flag("--json", args->json, "print one JSON object");
  cmd->add_flag("--entries", args->entries, "tree: also print each leaf's entries");
  cmd->add_option("what", args->what, "superblock | manifest | ot | log | tree")
      ->required()
      ->check(CLI::IsMember({"superblock", "manifest", "ot", "log", "tree"}));
  cmd->add_option("name", args->tree_name, "tree name (for tree)");
  return cmd;
}

int RunDumpCommand(const DumpCommandArgs& args, std::ostream& out, std::ostream& err) {
  recovery::DumpOptions options;
  options.format = args.json ? recovery::DumpFormat::kJson : recovery::DumpFormat::kText;
  options.entries = args.entries;
  Status st;
  if (args.what == "superblock") {
    st = recovery::DumpSuperblock(args.db, options, out);
  } else if (args.what == "manifest") {
    st = recovery::DumpManifest(args.db, options, out);
  } else if (args.what == "ot") {
    st = recovery::DumpObjectTable(args.db, options, out);
  } else if (args.what == "log") {
    st = recovery::DumpLog(args.db, options, out);
  } else {
    if (args.tree_name.empty()) {
      err << "cowtree dump: tree needs a NAME (cowtree dump --db DIR tree NAME)\n";
      return 2;
    }
    st = recovery::DumpTree(args.db, args.tree_name, options, out);
  }
  if (!st.ok()) {
    err << "cowtree dump: " << st.ToString() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace cowtree::tools
