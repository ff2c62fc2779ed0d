// The `cowtree` command (CLI11). Subcommands: ingest, query, checkpoint, stat, demo.
// Exit codes: 0 success; 1 an error (bad input, I/O, corruption: one line on stderr naming the
// file, line/offset and what was expected); 2 usage error (bad flag, P outside [0,1]).
#pragma once

namespace cowtree::tools {

int RunCli(int argc, char** argv);

}  // namespace cowtree::tools
