// `cowtree dump --db DIR [--json] [--entries] superblock|manifest|ot|log|tree NAME`: prints one
// structure of a store, decoded (recovery/dump.h; docs/fsck.md "dump"). Read-only.
// Exit codes: 0 printed (damage met on the way is listed under "problems"), 1 error (no such
// store or tree, I/O), 2 usage (tree without NAME).
#pragma once

#include <ostream>
#include <string>

namespace CLI {
class App;
}

namespace cowtree::tools {

struct DumpCommandArgs {
  std::string db;
  std::string what;       // superblock | manifest | ot | log | tree
  std::string tree_name;  // for tree
  bool json = false;
  bool entries = false;
};

CLI::App* AddDumpCommand(CLI::App* app, DumpCommandArgs* args);
int RunDumpCommand(const DumpCommandArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cowtree::tools
